from django.urls import include, path

from mizan_kernel.django import mizan_urls

from .shop import functions

urlpatterns = [path("api/mizan/", include(mizan_urls(functions)))]
