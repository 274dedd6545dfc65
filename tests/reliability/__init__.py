"""Reliability campaign (issue 20, part A): faults, crashes, bot-dead, load. docs/reliability.md has the figures."""
