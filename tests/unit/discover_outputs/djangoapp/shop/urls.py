from django.urls import include, path, re_path

from shop.orders import views

urlpatterns = [
    path("", views.home),
    path("api/", include([
        path("orders/<int:order_id>/", views.order),
        path("orders/<slug:code>/track/", views.track),
    ])),
    re_path(r"^healthz$", views.healthz),
]
