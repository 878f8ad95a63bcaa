"""The Litestar application: routes, dependencies, middleware, error handlers."""

from __future__ import annotations

from litestar import Litestar
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme

from server.alerts.routes import alerts_socket
from server.audit.routes import AuditController
from server.auth.access import TokenAuthMiddleware
from server.auth.routes import AdminController, TokenController
from server.cases.routes import CaseController
from server.detections.routes import post_detections
from server.errors import EXCEPTION_HANDLERS
from server.health import healthz, metrics, readyz
from server.hits.routes import HitController, SuppressionController
from server.hotlist.routes import HotlistController, HotlistImportController
from server.logs import configure_logging
from server.records.routes import ExportController
from server.resources import lifespan, provide_db_session, provide_resources
from server.retention.routes import RetentionController
from server.search.routes import InvestigationController
from server.settings import Settings, get_settings


def create_app(settings: Settings | None = None) -> Litestar:
    """The application; with no settings given, from the environment (how `alpr serve --workers` builds it)."""
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    return Litestar(
        route_handlers=[TokenController, AdminController, post_detections, HotlistController, HotlistImportController, HitController,
                        SuppressionController, InvestigationController, CaseController, RetentionController,
                        ExportController, AuditController,
                        alerts_socket, healthz, readyz, metrics],
        dependencies={"resources": Provide(provide_resources, sync_to_thread=False),
                      "db": Provide(provide_db_session)},
        middleware=[DefineMiddleware(TokenAuthMiddleware)],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=[lifespan(settings)],
        request_max_body_size=64 * 1024 * 1024,  # a full batch with images
        openapi_config=OpenAPIConfig(
            title="ALPR server", version="1.0.0",
            components=Components(security_schemes={"bearer": SecurityScheme(type="http", scheme="bearer",
                                                                            bearer_format="JWT")}),
            security=[{"bearer": []}]),
        logging_config=None,  # server.logs owns logging: one JSON line per event
        debug=False,
    )
