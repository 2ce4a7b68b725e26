"""The FastAPI application: built by `create_app`, resources opened in `lifespan`."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from redis.asyncio import Redis

from integrations.banks import WebhookClient
from integrations.sms import build_sms_sender
from service import gc_policy
from service.admission import BulkGate
from service.api import (
    activities,
    admin_adjustments,
    admin_audit,
    admin_bank_webhooks,
    admin_campaigns,
    admin_catalogue,
    admin_partners,
    admin_reference,
    admin_reports,
    admin_rewards,
    auth,
    bank,
    health,
    imports,
    leaderboards,
    me,
    me_activities,
    me_bank_links,
    me_privacy,
    purchases,
    rewards,
)
from service.auth.tokens import VerifiedTokens
from service.database import create_engine, create_sessionmaker
from service.directory import Directory
from service.jobs import ExpiryJob, HousekeepingJob, ImportWorker, WebhookWorker, build_dispatcher
from service.leaderboards import Recorder
from service.methodologies import MethodologyCache
from service.observability import BodyLimitMiddleware, RequestContextMiddleware
from service.problems import install_problem_handlers
from service.settings import Settings, get_settings

MAX_JSON_BODY_BYTES = 4 * 1024 * 1024

API_DESCRIPTION = """Tanpu, the carbon-inclusive (碳普惠) points platform: citizens earn carbon points
for green travel, recycling and green purchases; partners report over REST; every point lives
in a double-entry, append-only ledger. Errors are RFC 9457 problems with a `code`."""


def create_redis(url: str) -> Redis:
    # Short timeouts: Redis being slow or down must never hold up an award.
    return Redis.from_url(url, decode_responses=True, socket_timeout=0.5, socket_connect_timeout=0.5)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.database_url is None or settings.redis_url is None:
            raise RuntimeError("create_app needs DATABASE_URL and REDIS_URL (tanpu serve starts embedded ones)")
        app.state.engine = create_engine(settings.database_url, pool_size=settings.db_pool_size)
        app.state.redis = create_redis(settings.redis_url)
        app.state.leaderboards = Recorder(app.state.redis)
        app.state.leaderboards.start()
        app.state.sessionmaker = create_sessionmaker(
            app.state.engine, info={"redis": app.state.redis, "leaderboards": app.state.leaderboards}
        )
        app.state.bulk_gate = BulkGate(settings.batch_concurrency, waiting=settings.batch_queue)
        app.state.sms = build_sms_sender(settings.sms_provider, console_file=settings.sms_console_file)
        app.state.import_worker = ImportWorker(app) if settings.run_jobs else None
        if app.state.import_worker is not None:
            app.state.import_worker.start()
        app.state.webhook_client = WebhookClient(allow_insecure=settings.webhooks_insecure_ok)
        app.state.webhook_worker = None
        if settings.run_jobs and settings.webhook_dispatcher:
            app.state.webhook_worker = WebhookWorker(build_dispatcher(app.state, app.state.webhook_client))
            app.state.webhook_worker.start()
        app.state.expiry_job = ExpiryJob(app, interval_s=settings.expiry_interval_s) if settings.run_jobs else None
        app.state.housekeeping_job = HousekeepingJob(app, interval_s=settings.expiry_interval_s) if settings.run_jobs else None
        for job in (app.state.expiry_job, app.state.housekeeping_job):
            if job is not None:
                job.start()
        try:
            with gc_policy.long_lived_process():
                yield
        finally:
            for job in (app.state.housekeeping_job, app.state.expiry_job):
                if job is not None:
                    await job.stop()
            if app.state.webhook_worker is not None:
                await app.state.webhook_worker.stop()
            await app.state.webhook_client.aclose()
            if app.state.import_worker is not None:
                await app.state.import_worker.stop()
            await app.state.leaderboards.stop()
            await app.state.redis.aclose()
            await app.state.engine.dispose()

    app = FastAPI(
        title="Tanpu",
        version="1.0.0",
        description=API_DESCRIPTION,
        lifespan=lifespan,
        openapi_url="/openapi.json",
    )
    app.state.settings = settings
    app.state.methodologies = MethodologyCache()
    app.state.directory = Directory()
    app.state.verified_tokens = VerifiedTokens()
    install_problem_handlers(app)
    # API4: no JSON body needs more (a full 1,000-trip batch is ~0.4 MB); imports stream under their own limit.
    app.add_middleware(BodyLimitMiddleware, max_bytes=MAX_JSON_BODY_BYTES, streaming_paths={"/v1/imports/travel"})
    app.add_middleware(RequestContextMiddleware)  # added last: outermost, so every answer carries the request id
    # Routes are matched in order, one by one: the partners' write paths (the hot ones) come first.
    app.include_router(activities.router)
    app.include_router(purchases.router)
    app.include_router(imports.router)
    app.include_router(health.router)
    app.include_router(auth.router)
    app.include_router(me.router)
    app.include_router(admin_adjustments.router)
    app.include_router(admin_campaigns.router)
    app.include_router(admin_reference.router)
    app.include_router(admin_partners.router)
    app.include_router(admin_catalogue.router)
    app.include_router(admin_audit.router)
    app.include_router(admin_reports.router)
    app.include_router(me_activities.router)
    app.include_router(me_bank_links.router)
    app.include_router(bank.router)
    app.include_router(admin_bank_webhooks.router)
    app.include_router(rewards.router)
    app.include_router(leaderboards.router)
    app.include_router(me_privacy.router)
    app.include_router(admin_rewards.router)
    return app
