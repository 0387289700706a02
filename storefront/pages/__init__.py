"""The storefront's pages, one blueprint per area."""
