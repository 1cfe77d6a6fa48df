from mizan_kernel.django import mizan_urls

from .shop import functions

# The patterns carry the base path (/api/mizan): they go at the root.
urlpatterns = [*mizan_urls(functions)]
