"""Reference clients of the ALPR API: they use only what clients/mobile_api_spec and api-v1.md document."""
