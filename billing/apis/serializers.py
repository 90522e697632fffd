from rest_framework import serializers

from billing.models import InvoiceLine, ReconciliationRun, VendorEarning


class InvoiceLineOut(serializers.ModelSerializer):
    model = serializers.CharField(source="model.full_name", default=None)
    plan = serializers.CharField(source="plan.name", default=None)

    class Meta:
        model = InvoiceLine
        fields = ["model", "plan", "kind", "description", "quantity", "unit_amount_decimal", "amount_minor"]


class InvoiceOut(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField()
    source = serializers.CharField()
    status = serializers.CharField()
    currency = serializers.CharField()
    period_start = serializers.DateTimeField()
    period_end = serializers.DateTimeField()
    total_minor = serializers.IntegerField()
    amount_due_minor = serializers.IntegerField()
    amount_paid_minor = serializers.IntegerField()
    hosted_url = serializers.CharField()
    lines = InvoiceLineOut(many=True)
    by_model = serializers.ListField(child=serializers.DictField())


class EarningOut(serializers.ModelSerializer):
    invoice = serializers.CharField(source="invoice.__str__")
    transfer_status = serializers.CharField(source="transfer.status", default=None)
    transfer_id = serializers.CharField(source="transfer.stripe_id", default=None)

    class Meta:
        model = VendorEarning
        fields = ["id", "invoice", "currency", "gross_minor", "fee_minor", "net_minor", "transfer_status",
                  "transfer_id", "created_at"]


class ReconciliationRunOut(serializers.ModelSerializer):
    class Meta:
        model = ReconciliationRun
        fields = ["id", "status", "started_at", "finished_at", "range_start", "range_end", "checked", "fixed",
                  "differences", "error"]


class UrlsIn(serializers.Serializer):
    return_url = serializers.URLField(required=False)
    refresh_url = serializers.URLField(required=False)


class ReconcileIn(serializers.Serializer):
    hours = serializers.IntegerField(required=False, min_value=1, max_value=24 * 35)
