"""Tests of the adapters to outside parties (integrations/)."""
