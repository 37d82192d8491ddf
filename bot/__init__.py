"""质量月问答机器人: answers questions about a Quality Month notice on Telegram, WeChat, web and CLI."""
