"""Conversation scripts of the demo data set, in English and Russian.

The demo account belongs to a services agency that builds websites and apps
for small businesses. A script has an opening, a pool of exchanges that long
conversations draw from, and a closing used when the conversation is
resolved. Texts may contain placeholders such as `{customer}`, `{invoice}`
or `{date}`, which `demo.py` fills. Some agent replies are HTML, as email
channels deliver them, and one customer line is a screenshot with no text.
"""

from dataclasses import dataclass

from fakes.chatwoot.models import ACTIVITY, INCOMING, OUTGOING, AttachmentSpec


@dataclass(frozen=True)
class Line:
    """One scripted message; text None means an attachment-only message."""

    message_type: int
    text: str | None
    attachment: AttachmentSpec | None = None


@dataclass(frozen=True)
class Script:
    """A conversation plan for one topic in one language."""

    key: str
    language: str
    labels: tuple[str, ...]
    channel: str
    opening: tuple[Line, ...]
    exchanges: tuple[tuple[Line, Line], ...]
    closing: tuple[Line, ...]


def customer(text: str) -> Line:
    """Return an incoming line."""
    return Line(INCOMING, text)


def agent(text: str) -> Line:
    """Return an outgoing line."""
    return Line(OUTGOING, text)


def pair(customer_text: str, agent_text: str) -> tuple[Line, Line]:
    """Return a customer question and the agent's answer."""
    return customer(customer_text), agent(agent_text)


SCREENSHOT = Line(
    INCOMING,
    None,
    AttachmentSpec(
        file_type="image", file_name="checkout-freeze.png", width=1280, height=720
    ),
)
RESOLVED_ACTIVITY = Line(ACTIVITY, "Conversation was marked resolved by {agent}")
SNOOZE_LINES = {
    "en": agent("I'm snoozing this until {date} and will check back with you then."),
    "ru": agent("Вернусь к этому вопросу {date} и напишу вам."),
}

GENERAL_EXCHANGES = {
    "en": (
        pair(
            "Who should I contact while you are away next week?",
            "{other_agent} covers for me and knows your account well.",
        ),
        pair(
            "Could we have a call tomorrow to go through this?",
            "Sure, I've sent an invite for 11:00 your time.",
        ),
        pair(
            "Thanks for the call. Can you send the notes?",
            "The notes are in your inbox: decisions, open questions and owners.",
        ),
        pair(
            "Any update?",
            "Not yet. I'm waiting for our developers and will write as soon as I hear.",
        ),
        pair(
            "Is there anything you need from us?",
            "Only the final texts for the About page; the rest is on our side.",
        ),
        pair(
            "We've sent the texts.",
            "Got them, thanks. They'll be on the staging site by the end of the day.",
        ),
        pair(
            "Can you add my colleague to this thread?",
            "Of course. Send me the address and I'll copy them on every update.",
        ),
        pair(
            "Here it is: {colleague_email}",
            "Done, {colleague_name} will get every update from now on.",
        ),
        pair(
            "The staging site is slow today.",
            "We ran load tests this morning; it should be back to normal now.",
        ),
        pair("Looks fine now.", "Great. Tell me if you notice anything else."),
        pair(
            "What are your support hours over the holidays?",
            "Weekdays from 9:00 to 18:00, except 25 December and 1 January.",
        ),
        pair(
            "Can we get an estimate for the next phase?",
            "I'll prepare one by Friday, broken down by feature.",
        ),
    ),
    "ru": (
        pair(
            "Кто будет на связи, пока вас не будет на следующей неделе?",
            "Меня заменит {other_agent}, он в курсе всех деталей вашего проекта.",
        ),
        pair(
            "Можем завтра созвониться и всё обсудить?",
            "Конечно, отправил приглашение на 11:00 по Москве.",
        ),
        pair(
            "Спасибо за звонок. Пришлёте итоги?",
            "Итоги у вас в почте: решения, открытые вопросы и ответственные.",
        ),
        pair(
            "Есть новости?",
            "Пока нет, жду ответа от разработчиков и напишу, как только узнаю.",
        ),
        pair(
            "Нужно ли что-то от нас?",
            "Только финальные тексты для страницы «О компании», остальное на нас.",
        ),
        pair(
            "Тексты отправили.",
            "Получили, спасибо. До конца дня они появятся на тестовом сайте.",
        ),
        pair(
            "Добавьте, пожалуйста, коллегу в переписку.",
            "Конечно, пришлите адрес, и я буду ставить коллегу в копию.",
        ),
        pair(
            "Вот адрес: {colleague_email}",
            "Готово, {colleague_name} теперь будет получать все обновления.",
        ),
        pair(
            "Тестовый сайт сегодня медленно работает.",
            "Утром шло нагрузочное тестирование, сейчас всё работает как обычно.",
        ),
        pair("Сейчас всё нормально.", "Отлично, пишите, если заметите что-то ещё."),
        pair(
            "Как вы работаете в новогодние праздники?",
            "В рабочие дни с 9:00 до 18:00, кроме 1–8 января; срочное решает дежурный.",
        ),
        pair(
            "Можно получить оценку следующего этапа?",
            "Подготовлю к пятнице, с разбивкой по функциям.",
        ),
    ),
}

BILLING_EN = Script(
    key="billing-en",
    language="en",
    labels=("billing",),
    channel="email",
    opening=(
        customer(
            "Hello, invoice {invoice} for {amount} lists 40 hours of design work,"
            " but our agreement caps design at 30 hours a month. Can you check?"
        ),
        agent(
            "Hi {customer}, thanks for flagging this. I'm checking the time"
            " entries behind {invoice} with the project lead now."
        ),
        customer(
            "Thanks. We need the corrected invoice before our books close on {date}."
        ),
        agent(
            "You were right: 10 hours of QA were filed as design by mistake, and QA"
            " is included in your retainer. I've voided {invoice} and sent you"
            " the corrected invoice {invoice}-A."
        ),
    ),
    exchanges=(
        pair(
            "Can you also send invoices as PDF to our accounts team?",
            "Done, every invoice now goes to your accounts team as a PDF as well.",
        ),
        pair(
            "Does the corrected invoice include VAT?",
            "Yes, VAT at 20% is a separate line on invoice {invoice}-A.",
        ),
        pair(
            "Which bank account should we pay to? We have two on file.",
            "Please use the account ending in 4471; the older one closed in October.",
        ),
        pair(
            "Could we switch to quarterly billing?",
            "Yes, from January. The next invoice will cover January to March.",
        ),
    ),
    closing=(
        customer("Payment sent today."),
        agent(
            "<p><strong>Invoice {invoice}-A</strong> has been paid in full.</p>"
            "<p>Thank you, {customer}! The receipt is on your account page.</p>"
        ),
        customer("Great, thanks for the quick fix."),
    ),
)

REFUND_EN = Script(
    key="refund-en",
    language="en",
    labels=("billing", "refund"),
    channel="email",
    opening=(
        customer(
            "Hi, our card was charged twice for the November retainer: two payments"
            " of {amount} on the same day. Can you look into it?"
        ),
        agent(
            "Hi {customer}, I'm sorry about that. I see both payments on our side"
            " too and I'm asking our payment provider what happened."
        ),
        agent(
            "I found the cause: the payment provider timed out while confirming the"
            " first payment, and our billing system retried it automatically, so"
            " the card was charged a second time."
        ),
        customer("OK, so do we get the second payment back?"),
        agent(
            "Yes. I've issued a refund of {amount} for the duplicate charge,"
            " reference {refund}. Your bank should show it within 5 to 10"
            " business days."
        ),
    ),
    exchanges=(
        pair(
            "The refund isn't on our statement yet.",
            "Refund {refund} left us on {date}; card refunds take up to 10 business"
            " days. If it hasn't arrived by then, I'll ask the provider for a trace.",
        ),
        pair(
            "Can you make sure this doesn't happen again?",
            "We've turned off automatic retries for card payments. A failed"
            " confirmation now alerts our billing team instead of charging again.",
        ),
        pair(
            "Could you send a confirmation for our accountant?",
            "Sure, I've emailed the refund confirmation {refund} to you and your"
            " accounts team.",
        ),
    ),
    closing=(
        customer("The refund arrived this morning, thank you."),
        agent(
            "<p>Glad to hear it! The duplicate charge is fully refunded,"
            " reference <strong>{refund}</strong>.</p>"
        ),
    ),
)

DEADLINE_EN = Script(
    key="deadline-en",
    language="en",
    labels=("project",),
    channel="chat",
    opening=(
        customer("Hi, is the {project} still on track for launch on {date}?"),
        agent(
            "Hi {customer}, mostly yes. The design is signed off and development is"
            " about 70% done, but the payment integration is waiting for API keys"
            " from your side."
        ),
        customer("I'll chase our finance team for the keys. What if they're late?"),
        agent(
            "Each day of delay on the keys moves the launch by a day, because"
            " integration testing needs at least a week."
        ),
    ),
    exchanges=(
        pair(
            "The keys are sent. Did you get them?",
            "Received, thanks. The sandbox connection works and integration tests"
            " start tomorrow.",
        ),
        pair(
            "Our marketing team wants a staging link for screenshots.",
            "I've emailed you the staging link and the shared reviewer login.",
        ),
        pair(
            "We'd like to add a blog section. Does that change the date?",
            "A basic blog adds about four days. I suggest launching without it and"
            " adding it in the first update.",
        ),
        pair("Agreed, blog after launch.", "Noted, the blog moves to phase two."),
        pair(
            "How is testing going?",
            "Checkout testing found 6 issues: 4 are fixed and 2 wait on the payment"
            " provider's support.",
        ),
        pair(
            "Any news from the payment provider?",
            "They confirmed a bug with 3-D Secure redirects on their side and promise"
            " a fix by {date}.",
        ),
        pair(
            "Can we still make the launch date?",
            "If their fix lands on time, yes. Otherwise launch moves by two or three"
            " days.",
        ),
        pair(
            "Please send me a short status I can forward to our CEO.",
            "Status: design done, development done, checkout testing blocked by one"
            " provider bug, launch on {date} if the fix arrives in time.",
        ),
    ),
    closing=(
        customer("The site is live and everything works. Great job!"),
        agent(
            "Thank you, {customer}! We'll watch it closely for the first week and"
            " then send you a short launch report."
        ),
    ),
)

BUG_EN = Script(
    key="bug-en",
    language="en",
    labels=("bug",),
    channel="chat",
    opening=(
        customer(
            "Customers can't finish checkout on our store: the page freezes after"
            " they press Pay."
        ),
        SCREENSHOT,
        agent(
            "Thanks for the screenshot, {customer}. I've opened {ticket} and our"
            " developers are reproducing it now."
        ),
        customer("It's urgent, we're losing orders."),
        agent(
            "Understood, it's our top priority. We reproduced it: the freeze happens"
            " only with saved cards in Safari."
        ),
    ),
    exchanges=(
        pair(
            "Any progress on {ticket}?",
            "We found the cause: the script that validates the card form fails in"
            " Safari and blocks the Pay button.",
        ),
        pair(
            "When can you deploy a fix?",
            "The fix is in review. We'll deploy it tonight at 22:00, when traffic is"
            " lowest.",
        ),
        pair(
            "Is the fix deployed?",
            "Yes, at 22:10. We tested saved-card payments in Safari, Chrome and"
            " Firefox.",
        ),
        pair(
            "A customer still reports the problem on an iPhone.",
            "Please ask them to reload the page; their browser may still cache the"
            " old script.",
        ),
        pair(
            "Reloading helped.",
            "Good. We've also changed the cache settings so the next update reaches"
            " browsers at once.",
        ),
        pair(
            "Can you check how many orders we lost?",
            "The logs show 37 failed payment attempts between Monday 14:00 and the"
            " fix. I've emailed you the list of order numbers.",
        ),
        pair(
            "Also, the order confirmation email shows a broken logo.",
            "I've logged that separately: the image still points to the old CDN. It"
            " will be fixed tomorrow morning.",
        ),
        pair("The logo is fine now.", "Thanks for confirming."),
    ),
    closing=(
        customer("Everything works now, thank you for the quick help."),
        agent(
            "You're welcome! I'm closing {ticket}; the incident report is in your"
            " inbox."
        ),
    ),
)

ACCESS_EN = Script(
    key="access-en",
    language="en",
    labels=("access",),
    channel="chat",
    opening=(
        customer(
            "I can't log in to the admin panel: it says my two-factor code is invalid."
        ),
        agent(
            "Hi {customer}, let's sort this out. Does your phone set its clock"
            " automatically? Codes fail when the clock is off by more than a minute."
        ),
        customer("It's automatic. I got a new phone last week, maybe that's why."),
        agent(
            "That explains it: the codes were tied to your old phone. I've reset"
            " two-factor for your account, and the next login will ask you to set"
            " it up again."
        ),
    ),
    exchanges=(
        pair(
            "I set it up again, but now I'm locked out after too many attempts.",
            "The lock clears after 15 minutes. I've cleared it by hand, so you can"
            " try right away.",
        ),
        pair(
            "Can my colleague get access too?",
            "Yes, I've sent an invitation to {colleague_email} with the editor role.",
        ),
        pair(
            "The invitation didn't arrive.",
            "Please check the spam folder. I've sent it again; the link is valid for"
            " 48 hours.",
        ),
        pair(
            "Could we sign in with Google instead?",
            "Yes, single sign-on takes about two days of work. I'll add an estimate"
            " to the next proposal.",
        ),
    ),
    closing=(
        customer("I'm in, thanks!"),
        agent(
            "Great! Keep the backup codes somewhere safe in case you change phones"
            " again."
        ),
    ),
)

BILLING_RU = Script(
    key="billing-ru",
    language="ru",
    labels=("billing",),
    channel="email",
    opening=(
        customer(
            "Здравствуйте! Пришёл счёт №{invoice_number} на {amount}, в нём 40 часов"
            " дизайна, а по договору не больше 30 в месяц. Проверьте, пожалуйста."
        ),
        agent(
            "Добрый день, {customer}! Спасибо, что написали. Сверяю часы по счёту"
            " №{invoice_number} с руководителем проекта."
        ),
        customer(
            "Исправленный счёт нужен до {date}, потом закрывается отчётный период."
        ),
        agent(
            "Вы правы: 10 часов тестирования по ошибке записали как дизайн, а"
            " тестирование входит в абонентскую плату. Счёт №{invoice_number}"
            " аннулирован, исправленный уже у вас в почте."
        ),
    ),
    exchanges=(
        pair(
            "Можно присылать закрывающие документы через ЭДО?",
            "Да, мы подключили вашу компанию в ЭДО, следующий акт придёт туда.",
        ),
        pair("В новом счёте есть НДС?", "Да, НДС 20% выделен отдельной строкой."),
        pair(
            "На какие реквизиты платить? У нас в системе два счёта.",
            "На счёт, который заканчивается на 4471; старый закрыт в октябре.",
        ),
        pair(
            "Можно перейти на оплату раз в квартал?",
            "Можно с января, следующий счёт будет за январь–март.",
        ),
    ),
    closing=(
        customer("Оплатили сегодня."),
        agent(
            "<p><strong>Счёт №{invoice_number}</strong> оплачен</p>"
            "<p>Спасибо, {customer}! Акт придёт в конце месяца.</p>"
        ),
        customer("Отлично, спасибо!"),
    ),
)

REFUND_RU = Script(
    key="refund-ru",
    language="ru",
    labels=("billing", "refund"),
    channel="email",
    opening=(
        customer(
            "Добрый день! С нашей карты дважды списали оплату за ноябрь: два платежа"
            " по {amount} в один день. Разберитесь, пожалуйста."
        ),
        agent(
            "Здравствуйте, {customer}! Приносим извинения. Вижу оба платежа у нас"
            " и выясняю у платёжного провайдера, что произошло."
        ),
        agent(
            "Причина найдена: провайдер не успел подтвердить первый платёж, и наша"
            " биллинговая система автоматически повторила списание."
        ),
        customer("То есть второй платёж вернут?"),
        agent(
            "Да, я оформил возврат {amount} за повторное списание, номер возврата"
            " {refund}. Деньги придут на карту в течение 5–10 рабочих дней."
        ),
    ),
    exchanges=(
        pair(
            "Возврат пока не пришёл.",
            "Возврат {refund} отправлен {date}; по картам срок до 10 рабочих дней."
            " Если деньги не придут, запрошу у провайдера подтверждение.",
        ),
        pair(
            "Как сделать, чтобы такого больше не было?",
            "Мы отключили автоматические повторы списаний: при сбое подтверждения"
            " теперь приходит уведомление нашей бухгалтерии.",
        ),
        pair(
            "Пришлите подтверждение для бухгалтерии.",
            "Отправил подтверждение возврата {refund} вам и в бухгалтерию.",
        ),
    ),
    closing=(
        customer("Деньги вернулись, спасибо."),
        agent("Рады помочь! Повторное списание возвращено полностью."),
    ),
)

DEADLINE_RU = Script(
    key="deadline-ru",
    language="ru",
    labels=("project",),
    channel="chat",
    opening=(
        customer("Здравствуйте! Успеваем запустить {project} к {date}?"),
        agent(
            "Добрый день, {customer}! В целом да: дизайн согласован, разработка"
            " готова примерно на 70%. Но для подключения оплаты нужны ключи API"
            " с вашей стороны."
        ),
        customer("Потороплю бухгалтерию с ключами. А если они задержатся?"),
        agent(
            "Каждый день задержки с ключами сдвигает запуск на день: на"
            " интеграционное тестирование нужна минимум неделя."
        ),
    ),
    exchanges=(
        pair(
            "Ключи отправили, получили?",
            "Получили, спасибо. Тестовое подключение работает, завтра начинаем"
            " интеграционные тесты.",
        ),
        pair(
            "Маркетингу нужен доступ к тестовому сайту для скриншотов.",
            "Ссылку и общий доступ для проверяющих отправил вам на почту.",
        ),
        pair(
            "Хотим добавить блог. Это сдвинет срок?",
            "Простой блог — ещё около четырёх дней. Предлагаю запуститься без него"
            " и добавить блог в первом обновлении.",
        ),
        pair(
            "Согласны, блог после запуска.", "Записал, блог переходит во второй этап."
        ),
        pair(
            "Как идёт тестирование?",
            "В оформлении заказа нашли 6 проблем: 4 исправлены, 2 ждут ответа"
            " поддержки платёжного провайдера.",
        ),
        pair(
            "Есть новости от провайдера?",
            "Они подтвердили у себя ошибку с переадресацией 3-D Secure и обещают"
            " исправить к {date}.",
        ),
        pair(
            "Мы успеваем к дате запуска?",
            "Если исправление выйдет вовремя, да. Если нет, запуск сдвинется на два"
            " или три дня.",
        ),
        pair(
            "Пришлите короткий статус для генерального директора.",
            "Статус: дизайн и разработка готовы, тестирование оплаты ждёт"
            " исправления у провайдера, запуск {date}, если оно выйдет вовремя.",
        ),
    ),
    closing=(
        customer("Сайт запущен, всё работает. Спасибо команде!"),
        agent(
            "Спасибо, {customer}! Первую неделю мы следим за сайтом, а потом пришлём"
            " короткий отчёт о запуске."
        ),
    ),
)

BUG_RU = Script(
    key="bug-ru",
    language="ru",
    labels=("bug",),
    channel="chat",
    opening=(
        customer(
            "**срочно** перезвоните: на сайте не работает форма заказа, клиенты не"
            " могут оформить покупку."
        ),
        agent(
            "Здравствуйте, {customer}! Уже смотрим, завёл задачу {ticket}. В каком"
            " браузере появляется ошибка?"
        ),
        customer("У меня в Chrome, у коллеги в Safari тоже."),
        agent(
            "Воспроизвели: после последнего обновления форма не проходит проверку"
            " адреса доставки, если в адресе есть буква «ё»."
        ),
    ),
    exchanges=(
        pair(
            "Когда будет исправление?",
            "Исправление на ревью, выкатим сегодня в 22:00, когда посетителей меньше"
            " всего.",
        ),
        pair(
            "Исправили?",
            "Да, выкатили в 22:05. Проверили оформление заказа с разными адресами, в"
            " том числе с «ё» и дефисами.",
        ),
        pair(
            "Клиент пишет, что у него всё ещё ошибка.",
            "Попросите его обновить страницу: в браузере мог остаться старый скрипт.",
        ),
        pair(
            "После обновления заработало.",
            "Отлично. Мы также поменяли настройки кеша, чтобы обновления доходили"
            " сразу.",
        ),
        pair(
            "Сколько заказов мы потеряли?",
            "По логам с понедельника до исправления не прошли 23 попытки оформления."
            " Список номеров заказов отправил вам на почту.",
        ),
        pair(
            "Ещё в письме с подтверждением заказа не видно логотипа.",
            "Завёл отдельную задачу: картинка ссылается на старый CDN. Исправим"
            " завтра утром.",
        ),
        pair("Логотип появился.", "Спасибо, что проверили."),
    ),
    closing=(
        customer("Всё работает, спасибо за оперативность!"),
        agent(
            "Пожалуйста! Закрываю {ticket}, отчёт об инциденте отправил вам на почту."
        ),
    ),
)

ACCESS_RU = Script(
    key="access-ru",
    language="ru",
    labels=("access",),
    channel="chat",
    opening=(
        customer(
            "Не могу зайти в админку: пишет, что код двухфакторной защиты неверный."
        ),
        agent(
            "Здравствуйте, {customer}! Давайте разберёмся. Время на телефоне"
            " ставится автоматически? Коды не проходят, если часы сбиты больше"
            " чем на минуту."
        ),
        customer(
            "Да, автоматически. На прошлой неделе я сменил телефон, может, поэтому?"
        ),
        agent(
            "Скорее всего: коды были привязаны к старому телефону. Я сбросил"
            " двухфакторную защиту, при следующем входе система предложит"
            " настроить её заново."
        ),
    ),
    exchanges=(
        pair(
            "Настроил заново, но после нескольких попыток аккаунт заблокирован.",
            "Блокировка снимается через 15 минут; я снял её вручную, можно входить.",
        ),
        pair(
            "Можно дать доступ коллеге?",
            "Да, отправил приглашение на {colleague_email} с ролью редактора.",
        ),
        pair(
            "Приглашение не пришло.",
            "Проверьте папку «Спам». Отправил повторно, ссылка действует 48 часов.",
        ),
        pair(
            "Можно сделать вход через Яндекс ID?",
            "Можно, это около двух дней работы. Добавлю оценку в следующее"
            " коммерческое предложение.",
        ),
    ),
    closing=(
        customer("Всё, зашёл, спасибо!"),
        agent(
            "Отлично! Сохраните резервные коды на случай, если снова смените телефон."
        ),
    ),
)

SCRIPTS = {
    script.key: script
    for script in (
        BILLING_EN,
        REFUND_EN,
        DEADLINE_EN,
        BUG_EN,
        ACCESS_EN,
        BILLING_RU,
        REFUND_RU,
        DEADLINE_RU,
        BUG_RU,
        ACCESS_RU,
    )
}
