"""MQTT topic-filter arithmetic shared by the broker's authorisation and the in-process subscribers."""

from __future__ import annotations


def well_formed_filter(topic_filter: str) -> bool:
    """Whether ``topic_filter`` obeys MQTT 3.1.1 §4.7: wildcards occupy whole levels, ``#`` only last."""
    if not topic_filter or "\x00" in topic_filter:
        return False
    levels = topic_filter.split("/")
    last = len(levels) - 1
    for index, level in enumerate(levels):
        if "#" in level and (level != "#" or index != last):
            return False
        if "+" in level and level != "+":
            return False
    return True


def topic_matches(topic_filter: str, topic: str) -> bool:
    """Whether the concrete ``topic`` is matched by ``topic_filter``."""
    if topic.startswith("$") and topic_filter[:1] in ("+", "#"):
        return False  # MQTT-4.7.2-1: wildcards at the first level never match $-topics
    topic_levels = topic.split("/")
    filter_levels = topic_filter.split("/")
    for index, level in enumerate(filter_levels):
        if level == "#":
            return True
        if index >= len(topic_levels) or level not in ("+", topic_levels[index]):
            return False
    return len(filter_levels) == len(topic_levels)


def filter_within(topic_filter: str, allowed: str) -> bool:
    """Whether every topic matched by ``topic_filter`` is also matched by the filter ``allowed``.

    This is the narrowing check: ``a/b/#`` lies within ``a/#``, ``a/+/c`` within ``a/+/#``, but
    ``a/+`` not within ``a/b/#``, and ``#`` within nothing but ``#``.
    """
    if not well_formed_filter(topic_filter):
        return False
    levels = topic_filter.split("/")
    limits = allowed.split("/")
    for index, limit in enumerate(limits):
        if limit == "#":
            return True  # '#' also matches its parent level, so a filter that ends here lies within
        if index >= len(levels):
            return False
        level = levels[index]
        if level == "#" or (level == "+" and limit != "+") or limit not in ("+", level):
            return False
    return len(levels) == len(limits)
