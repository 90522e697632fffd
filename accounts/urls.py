from django.urls import path

from accounts import apis, apis_privacy

urlpatterns = [
    path("keys", apis.ApiKeyListCreateApi.as_view(), name="api-keys"),
    path("keys/<int:key_id>", apis.ApiKeyDetailApi.as_view(), name="api-key-detail"),
    path("orgs", apis.OrganizationListCreateApi.as_view(), name="orgs"),
    path("orgs/current/members", apis.MemberListApi.as_view(), name="org-members"),
    path("orgs/current/members/<int:membership_id>", apis.MemberRoleApi.as_view(), name="org-member-role"),
    path("orgs/current/audit-log", apis.AuditLogListApi.as_view(), name="org-audit-log"),
    path("account/export", apis_privacy.ExportApi.as_view(), name="account-export"),
    path("account/erase", apis_privacy.EraseApi.as_view(), name="account-erase"),
    path("account/data-policy", apis_privacy.DataPolicyApi.as_view(), name="account-data-policy"),
]
