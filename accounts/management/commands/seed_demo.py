"""Demo data, idempotently: a staff user, a vendor org and a buyer org, each with an API key
holding every scope. The demo keys' plaintexts are kept in var/demo-keys.json (demo only) so a
second run can print them again instead of minting new ones."""

import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts import keys
from accounts.models import ApiKey, Membership, Organization, User
from accounts.services import api_key_create, organization_create

DEMO_PASSWORD = "modelbay-demo"
PEOPLE = {
    "staff": {"email": "staff@modelbay.local", "staff": True, "org": None},
    "vendor": {"email": "vendor@modelbay.local", "staff": False, "org": ("acme-ai", "Acme AI")},
    "buyer": {"email": "buyer@modelbay.local", "staff": False, "org": ("globex", "Globex Corp")},
}


class Command(BaseCommand):
    help = "Create demo users, organizations and API keys (idempotent)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--json", action="store_true", help="print logins and keys as JSON")

    def handle(self, *args, **options) -> None:
        if settings.SETTINGS_MODULE.endswith("production"):
            raise CommandError("seed_demo refuses to run with production settings.")
        key_file = settings.VAR_DIR / "demo-keys.json"
        stored = json.loads(key_file.read_text()) if key_file.exists() else {}
        result = {"password": DEMO_PASSWORD, "users": {}, "organizations": {}, "api_keys": {}}
        with transaction.atomic():
            for role, person in PEOPLE.items():
                user = self._user(person["email"], staff=person["staff"])
                result["users"][role] = person["email"]
                if person["org"] is None:
                    continue
                slug, name = person["org"]
                org = Organization.objects.filter(slug=slug).first() or organization_create(
                    owner=user, name=name, slug=slug
                )
                Membership.objects.get_or_create(user=user, organization=org, defaults={"role": "owner"})
                result["organizations"][role] = slug
                result["api_keys"][role] = self._key(org, user, stored.get(role))
        key_file.write_text(json.dumps(result["api_keys"]))
        key_file.chmod(0o600)
        if options["json"]:
            self.stdout.write(json.dumps(result, indent=2))
        else:
            for role, email in result["users"].items():
                self.stdout.write(f"{role:7} {email} / {DEMO_PASSWORD}  key: {result['api_keys'].get(role, '-')}")

    def _user(self, email: str, *, staff: bool) -> User:
        user = User.objects.filter(email=email).first()
        if user is None:
            user = User.objects.create_user(email, DEMO_PASSWORD, is_staff=staff, is_superuser=staff)
        return user

    def _key(self, org: Organization, user: User, plaintext: str | None) -> str:
        if plaintext and ApiKey.objects.filter(
            organization=org, hashed_key=keys.hash_key(plaintext), revoked_at__isnull=True
        ).exists():
            return plaintext
        _, plaintext = api_key_create(
            organization=org, created_by=user, name="demo key", scopes=list(ApiKey.Scope.values), mode="test"
        )
        return plaintext
