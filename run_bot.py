#!/usr/bin/env python3
"""质量月问答机器人: `python run_bot.py --help` lists the commands."""

import sys

from bot.cli import main

if __name__ == "__main__":
    sys.exit(main())
