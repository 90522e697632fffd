from django.urls import path

from accounts import apis

urlpatterns = [
    path("keys", apis.ApiKeyListCreateApi.as_view(), name="api-keys"),
    path("keys/<int:key_id>", apis.ApiKeyDetailApi.as_view(), name="api-key-detail"),
    path("orgs", apis.OrganizationListCreateApi.as_view(), name="orgs"),
    path("orgs/current/members", apis.MemberListApi.as_view(), name="org-members"),
    path("orgs/current/members/<int:membership_id>", apis.MemberRoleApi.as_view(), name="org-member-role"),
    path("orgs/current/audit-log", apis.AuditLogListApi.as_view(), name="org-audit-log"),
]
