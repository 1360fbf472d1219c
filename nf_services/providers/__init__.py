"""Provider interfaces with an offline default and an OpenAI-compatible HTTP implementation."""
