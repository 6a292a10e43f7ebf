"""Content of the generated demo workspace: a small web agency's client work.

The agency runs two client accounts: Northwind, an online shop, and
Kovalenko Clinic, a Russian-speaking private clinic whose issues and
comments are written in Russian.
"""

DEMO_PEOPLE = (
    ("Maya Ortiz", "maya@brightpixel.example", True),
    ("Jonas Weber", "jonas@brightpixel.example", False),
    ("Priya Nair", "priya@brightpixel.example", False),
    ("Olga Smirnova", "olga@brightpixel.example", False),
    ("Dmitry Volkov", "dmitry@brightpixel.example", False),
    ("Sam Carter", "sam@brightpixel.example", False),
)
DEMO_LABELS = (
    ("Bug", "#eb5757"),
    ("Feature", "#bb87fc"),
    ("Client request", "#4ea7fc"),
    ("Design", "#f2994a"),
    ("Blocked", "#95a2b3"),
)
# (team key, title, description, label names). Issues with Cyrillic titles
# belong to the clinic, and the generator gives them Russian comments.
DEMO_ISSUES = (
    (
        "WEB",
        "Checkout button overlaps the cart total on iPhone SE",
        "Seen by Northwind's QA on Safari 17. The button sits on top of the total"
        " when the cart has a coupon.",
        ("Bug", "Client request"),
    ),
    (
        "WEB",
        "Add Apple Pay to the Northwind checkout",
        "The client wants Apple Pay before the spring sale. Needs the merchant id"
        " from their Stripe account.",
        ("Feature", "Client request"),
    ),
    (
        "WEB",
        "Product images load slowly on the category page",
        "Largest Contentful Paint is 4.8 s on 4G. Serve WebP and lazy-load"
        " below the fold.",
        ("Bug",),
    ),
    (
        "WEB",
        "Build the new homepage hero from the approved mockup",
        "Mockup v3 in Figma, approved on the last client call.",
        ("Design", "Feature"),
    ),
    (
        "WEB",
        "Newsletter signup returns 500 when the email has a plus sign",
        "Mailchimp rejects the encoded address; we double-encode it.",
        ("Bug",),
    ),
    (
        "WEB",
        "Set up staging for the Northwind storefront",
        "Separate database and Stripe test keys. Client QA needs a login.",
        (),
    ),
    (
        "WEB",
        "Translate the checkout into German",
        "Copy arrives from the client's agency; wire up the i18n keys first.",
        ("Feature",),
    ),
    (
        "WEB",
        "Footer links point to the old blog domain",
        "Three links still go to blog.northwind.example.",
        ("Bug",),
    ),
    (
        "WEB",
        "Cookie banner blocks the chat widget on mobile",
        "The banner's z-index is above the chat launcher.",
        ("Bug", "Design"),
    ),
    (
        "WEB",
        "Migrate product reviews from the old platform",
        "Export has 12k reviews as CSV; keep star ratings and dates.",
        ("Client request",),
    ),
    (
        "WEB",
        "Search suggestions ignore product variants",
        "Typing 'blue' does not suggest the blue variant of the bestseller.",
        ("Bug",),
    ),
    (
        "WEB",
        "Add structured data for products",
        "Price, availability and rating for rich results.",
        ("Feature",),
    ),
    (
        "WEB",
        "Order confirmation email shows prices without VAT",
        "The client's accountant flagged this; B2C prices must include VAT.",
        ("Bug", "Client request"),
    ),
    (
        "WEB",
        "Accessibility pass on the product page",
        "Contrast of the sale badge, alt text, focus order.",
        ("Design",),
    ),
    (
        "WEB",
        "Форма записи не отправляется в Firefox",
        "Клиника Коваленко сообщает: кнопка «Записаться» не реагирует в Firefox 121.",
        ("Bug", "Client request"),
    ),
    (
        "WEB",
        "Сверстать страницу врача по новому макету",
        "Макет утверждён на созвоне во вторник. Нужны фото и расписание.",
        ("Design", "Feature"),
    ),
    (
        "WEB",
        "Добавить напоминание о приёме по SMS",
        "Клиент просит напоминание за сутки до визита.",
        ("Feature", "Client request"),
    ),
    (
        "WEB",
        "Calendar widget shows Sunday slots the clinic does not open",
        "Kovalenko Clinic is closed on Sundays; hide those slots.",
        ("Bug",),
    ),
    (
        "WEB",
        "Patient login with a one-time code",
        "Replace passwords with a code sent by email.",
        ("Feature",),
    ),
    (
        "WEB",
        "Clinic price list page from the client's spreadsheet",
        "Import the spreadsheet and render it as a searchable table.",
        ("Client request",),
    ),
    (
        "WEB",
        "Broken layout of the doctors grid on tablets",
        "Cards wrap into one column at 768 px.",
        ("Bug", "Design"),
    ),
    (
        "WEB",
        "Upgrade the booking app to the latest framework version",
        "Two minor versions behind; check the changelog for breaking changes.",
        (),
    ),
    (
        "OPS",
        "Weekly status report for Northwind",
        "Summarize the sprint for the client's marketing lead.",
        ("Client request",),
    ),
    (
        "OPS",
        "Renew the SSL certificate for the clinic domain",
        "Auto-renewal failed because DNS moved to the client's registrar.",
        ("Blocked",),
    ),
    (
        "OPS",
        "Invoice Northwind for the March retainer",
        "Hours are in the time tracker; attach the report.",
        (),
    ),
    (
        "OPS",
        "Set up uptime monitoring for both client sites",
        "Alert the on-call channel after two failed checks.",
        ("Feature",),
    ),
    (
        "OPS",
        "Client asks for a call about the spring sale timeline",
        "They want the Apple Pay work before the campaign starts.",
        ("Client request",),
    ),
    (
        "OPS",
        "Back up the clinic database before the migration",
        "Full dump plus a restore test on staging.",
        (),
    ),
    (
        "OPS",
        "Access for the client's new marketing manager",
        "Analytics and the CMS, no admin rights.",
        ("Client request",),
    ),
    (
        "OPS",
        "Review hosting costs for the last quarter",
        "Compare with the budget agreed in the contract.",
        (),
    ),
    (
        "OPS",
        "Подготовить отчёт для клиники за февраль",
        "Посещаемость, заявки с сайта, конверсия формы записи.",
        ("Client request",),
    ),
    (
        "OPS",
        "Согласовать с клиникой тексты уведомлений",
        "Тексты SMS и писем ждут ответа главврача.",
        ("Blocked", "Client request"),
    ),
    (
        "OPS",
        "Rotate the API keys of the payment provider",
        "Yearly rotation; update both staging and production.",
        (),
    ),
    (
        "OPS",
        "Onboarding checklist for the new developer",
        "Accounts, repositories, the client contacts sheet.",
        (),
    ),
    (
        "OPS",
        "Collect feedback after the homepage launch",
        "Short survey for the client's team.",
        ("Client request",),
    ),
    (
        "OPS",
        "Incident review: checkout outage on Friday",
        "Timeline, root cause, and the follow-up tasks.",
        ("Bug",),
    ),
    (
        "OPS",
        "Plan the Q3 retainer hours with Northwind",
        "Client wants more design time and less maintenance.",
        ("Client request",),
    ),
    (
        "OPS",
        "Archive the old landing pages",
        "Pages from last year's campaign are still indexed.",
        (),
    ),
    (
        "OPS",
        "Update the agency's contract template",
        "Add the data processing clause.",
        (),
    ),
    (
        "OPS",
        "Move the clinic's email to the client's own domain",
        "Waiting for DNS access from their IT contractor.",
        ("Blocked",),
    ),
)
DEMO_COMMENTS = (
    "Reproduced on staging; working on a fix.",
    "The client confirmed this is the top priority for this week.",
    "Pushed a fix to the feature branch, please review.",
    "Can we get the final copy from the client first?",
    "Deployed to staging, asked the client to check.",
    "Client approved, closing after the release.",
)
DEMO_COMMENTS_RU = (
    "Воспроизвёл на стенде, разбираюсь.",
    "Клиент подтвердил, что это срочно.",
    "Исправление на стенде, попросил клинику проверить.",
)
DEMO_STATE_WEIGHTS = (
    ("backlog", 2),
    ("unstarted", 3),
    ("started", 3),
    ("completed", 4),
    ("canceled", 1),
)
DEMO_ARCHIVED_COUNT = 4
