"""KV-slot management: slot allocator, request-to-token table, radix prefix cache."""

from radtrio.cache.allocator import OutOfSlotsError, SlotAllocator, SlotError
from radtrio.cache.policy import NoRadixCache, PrefixCache, RadixCache, make_prefix_cache
from radtrio.cache.radix_tree import (
    CacheIntegrityError,
    CacheStats,
    InsertResult,
    MatchResult,
    NodeInfo,
    RadixTree,
    TreeNode,
    tree_snapshots,
)
from radtrio.cache.req_table import ReqToTokenTable

__all__ = [
    "CacheIntegrityError",
    "CacheStats",
    "InsertResult",
    "MatchResult",
    "NoRadixCache",
    "NodeInfo",
    "OutOfSlotsError",
    "PrefixCache",
    "RadixCache",
    "RadixTree",
    "ReqToTokenTable",
    "SlotAllocator",
    "SlotError",
    "TreeNode",
    "make_prefix_cache",
    "tree_snapshots",
]
