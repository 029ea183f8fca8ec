"""The Markdown report: finished runs read back, their tables, sections and plots."""
