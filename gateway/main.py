"""Entry point of the gateway: settings, logging, tracing, uvicorn."""

import uvicorn

from gateway.app import create_app
from gateway.settings import GatewaySettings
from services.common.logging import configure_logging
from services.common.telemetry import configure_tracing


def main() -> None:
    settings = GatewaySettings()
    configure_logging(
        "gateway", log_format=settings.log_format, level=settings.log_level
    )
    configure_tracing("gateway")
    app = create_app(settings)
    uvicorn.run(
        app, host=settings.host, port=settings.port, log_config=None, access_log=False
    )


if __name__ == "__main__":
    main()
