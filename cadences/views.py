from django.http import HttpResponse


def cadence_list(request):
    return HttpResponse("")
