"""Multipart upload shapes (the protocol the `modelbay` CLI and the browser upload page speak)."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from marketplace.models import UploadPart, UploadSession
from marketplace.services.uploads import is_completing, part_count


class UploadFileIn(serializers.Serializer):
    path = serializers.CharField(max_length=255, help_text="relative path inside the model folder")
    size = serializers.IntegerField(min_value=0)
    sha256 = serializers.RegexField(r"^[0-9a-fA-F]{64}$", help_text="SHA-256 of the whole file, 64 hex digits")


class UploadSessionIn(serializers.Serializer):
    version = serializers.CharField(max_length=40, required=False,
                                    help_text="semantic version; the next patch version when left out")
    files = UploadFileIn(many=True, allow_empty=False)
    part_size = serializers.IntegerField(required=False, min_value=1,
                                         help_text="bytes per part; MODELBAY_UPLOAD_PART_BYTES when left out")
    example_inputs = serializers.DictField(required=False,
                                           help_text='{"input name": nested list}, as for the one-request upload')


class UploadFileOut(serializers.Serializer):
    index = serializers.IntegerField()
    path = serializers.CharField()
    size = serializers.IntegerField()
    sha256 = serializers.CharField()
    parts = serializers.IntegerField(help_text="how many parts this file takes")
    present = serializers.ListField(child=serializers.IntegerField(), help_text="part numbers received")


class UploadSessionOut(serializers.ModelSerializer):
    model = serializers.CharField(source="model.slug")
    files = serializers.SerializerMethodField()
    bytes_received = serializers.SerializerMethodField()
    completing = serializers.SerializerMethodField(help_text="A `complete` is assembling the parts now; poll.")
    refusal = serializers.SerializerMethodField(help_text="Why `complete` refused the files (then `cancelled`).")

    class Meta:
        model = UploadSession
        fields = ["id", "model", "version", "status", "part_size", "expires_at", "total_size", "files",
                  "bytes_received", "completing", "refusal"]  # fmt: skip

    def get_completing(self, obj: UploadSession) -> bool:
        return is_completing(obj)

    @extend_schema_field({"type": "object", "nullable": True, "properties": {
        "code": {"type": "string"}, "message": {"type": "string"}, "details": {"type": "object"}}})
    def get_refusal(self, obj: UploadSession) -> dict | None:
        return {k: obj.refusal[k] for k in ("code", "message", "details")} if obj.refusal else None

    def _parts(self, obj: UploadSession) -> list[tuple[int, int, int]]:
        if not hasattr(obj, "_present_parts"):
            obj._present_parts = list(UploadPart.objects.filter(session=obj).values_list("file_index", "number", "size"))
        return obj._present_parts

    @extend_schema_field(UploadFileOut(many=True))
    def get_files(self, obj: UploadSession) -> list[dict]:
        present: dict[int, list[int]] = {}
        for file_index, number, _size in self._parts(obj):
            present.setdefault(file_index, []).append(number)
        return [{"index": index, **spec, "parts": part_count(spec["size"], obj.part_size),
                 "present": sorted(present.get(index, []))} for index, spec in enumerate(obj.files)]  # fmt: skip

    def get_bytes_received(self, obj: UploadSession) -> int:
        return sum(size for _i, _n, size in self._parts(obj))


class UploadPartOut(serializers.Serializer):
    file = serializers.IntegerField(source="file_index")
    part = serializers.IntegerField(source="number")
    size = serializers.IntegerField()
    sha256 = serializers.CharField()
