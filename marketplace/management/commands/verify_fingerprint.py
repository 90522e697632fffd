"""Staff tool: whose copy is this leaked file? `manage.py verify_fingerprint FILE`."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from marketplace import fingerprint
from marketplace.models import Download


class Command(BaseCommand):
    help = "Reads the per-buyer fingerprint of a downloaded ONNX file and names the buyer."

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path)

    def handle(self, *args, file: Path, **options) -> None:
        if not file.is_file():
            raise CommandError(f"No such file: {file}")
        reading = fingerprint.read(file)
        download = None
        if reading.payload and reading.authentic:
            download = Download.objects.filter(fingerprint_id=reading.payload.get("fid")).first()
        if download is None:
            # The mark may have been stripped; an unmodified copy is still known by its hash.
            download = Download.objects.filter(file_sha256=reading.file_sha256).first()
        if download is None:
            state = "a forged or altered fingerprint" if reading.payload else "no fingerprint"
            raise CommandError(f"{file}: {state}; no recorded download matches this file.")
        download = Download.objects.select_related("organization", "entitlement", "version__model__organization",
                                                   "user").get(pk=download.pk)
        exact = download.file_sha256 == reading.file_sha256
        self.stdout.write(
            f"buyer organization: {download.organization.slug} (id {download.organization_id})\n"
            f"entitlement: {download.entitlement_id}\n"
            f"model: {download.version.model.full_name} version {download.version.version}\n"
            f"downloaded at: {download.created_at.isoformat()} by user id {download.user_id}\n"
            f"fingerprint: {download.fingerprint_id} "
            f"({'authentic' if reading.authentic else 'missing; matched by file hash'})\n"
            f"file: {'identical to the copy handed out' if exact else 'modified after download'}"
        )
