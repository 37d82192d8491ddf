"""Telegram through python-telegram-bot: rendering, handlers and the runtime that starts them."""
