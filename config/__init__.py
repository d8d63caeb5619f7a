"""Settings and logging setup for unroll-bot."""
