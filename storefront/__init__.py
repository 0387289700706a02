"""A reference storefront: a backend-for-frontend a person shops with in a browser."""
