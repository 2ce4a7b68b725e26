"""Sign-in: one-time codes and the OAuth 2 token endpoint."""

from fastapi import APIRouter

router = APIRouter(tags=["auth"])
