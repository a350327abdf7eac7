from django.http import HttpResponse, JsonResponse


def home(request):
    return HttpResponse("shop")


def order(request, order_id):
    return JsonResponse({"id": order_id})


def track(request, code):
    return JsonResponse({"code": code})


def healthz(request):
    return HttpResponse("ok")
