"""Configuration from the environment (see README "Configuration")."""

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_JWT_SECRET = "tanpu-development-secret-change-me-0000000000"


class InsecureConfiguration(RuntimeError):
    """Production was asked to start with a development-only setting."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", populate_by_name=True)

    database_url: str | None = Field(default=None, alias="DATABASE_URL")
    redis_url: str | None = Field(default=None, alias="REDIS_URL")
    env: Literal["development", "production"] = Field(default="development", alias="TANPU_ENV")
    data_dir: Path = Field(default=Path(".tanpu"), alias="TANPU_DATA_DIR")
    jwt_secret: str = Field(default=DEFAULT_JWT_SECRET, alias="TANPU_JWT_SECRET")
    jwt_issuer: str = Field(default="tanpu", alias="TANPU_JWT_ISSUER")
    access_token_ttl_s: int = Field(default=900, alias="TANPU_ACCESS_TOKEN_TTL")
    partner_token_ttl_s: int = Field(default=3600, alias="TANPU_PARTNER_TOKEN_TTL")
    refresh_token_ttl_s: int = Field(default=30 * 24 * 3600, alias="TANPU_REFRESH_TOKEN_TTL")
    sms_provider: Literal["console"] = Field(default="console", alias="TANPU_SMS_PROVIDER")
    sms_console_file: Path | None = Field(default=None, alias="TANPU_SMS_CONSOLE_FILE")
    otp_per_phone_per_hour: int = Field(default=5, alias="TANPU_OTP_PER_PHONE_PER_HOUR")
    otp_per_ip_per_hour: int = Field(default=100, alias="TANPU_OTP_PER_IP_PER_HOUR")
    otp_ttl_s: int = Field(default=300, alias="TANPU_OTP_TTL")
    otp_max_attempts: int = Field(default=5, alias="TANPU_OTP_MAX_ATTEMPTS")
    default_region: str = Field(default="huangpu", alias="TANPU_DEFAULT_REGION")
    db_pool_size: int = Field(default=32, alias="TANPU_DB_POOL_SIZE")
    log_level: str = Field(default="INFO", alias="TANPU_LOG_LEVEL")
    import_max_bytes: int = Field(default=1024**3, alias="TANPU_IMPORT_MAX_BYTES")
    import_lease_s: float = Field(default=60, gt=0, alias="TANPU_IMPORT_LEASE_S")
    import_workers: int = Field(default=2, ge=1, le=16, alias="TANPU_IMPORT_WORKERS")
    batch_concurrency: int = Field(default=2, ge=1, le=64, alias="TANPU_BATCH_CONCURRENCY")
    batch_queue: int = Field(default=16, ge=0, le=1024, alias="TANPU_BATCH_QUEUE")
    run_jobs: bool = Field(default=True, alias="TANPU_RUN_JOBS")
    expiry_interval_s: float = Field(default=3600, gt=0, alias="TANPU_EXPIRY_INTERVAL_S")
    trust_forwarded_for: bool = Field(default=False, alias="TANPU_TRUST_FORWARDED_FOR")
    webhook_allow_insecure: bool | None = Field(default=None, alias="TANPU_WEBHOOK_ALLOW_INSECURE")
    webhook_dispatcher: bool = Field(default=True, alias="TANPU_WEBHOOK_DISPATCHER")
    webhook_lease_s: float = Field(default=60, gt=0, alias="TANPU_WEBHOOK_LEASE_S")

    @property
    def embedded(self) -> bool:
        return self.database_url is None or self.redis_url is None

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def webhooks_insecure_ok(self) -> bool:
        """Plain http and loopback/private webhook targets: development only (API7)."""
        return (not self.production) if self.webhook_allow_insecure is None else self.webhook_allow_insecure

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> "Settings":
        if self.production:
            if self.jwt_secret == DEFAULT_JWT_SECRET or len(self.jwt_secret) < 32:
                raise InsecureConfiguration("TANPU_ENV=production needs TANPU_JWT_SECRET: 32+ characters, not the default")
            if self.database_url is None or self.redis_url is None:
                raise InsecureConfiguration("TANPU_ENV=production needs DATABASE_URL and REDIS_URL: no embedded servers")
            if self.webhook_allow_insecure:
                raise InsecureConfiguration(
                    "TANPU_WEBHOOK_ALLOW_INSECURE is for development: production webhooks are https to public hosts"
                )
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
