"""Viewers for finished search trees."""

from .html import render_tree_html, tree_payload, write_tree_html

__all__ = ["render_tree_html", "tree_payload", "write_tree_html"]
