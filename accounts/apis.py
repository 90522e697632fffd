"""Thin APIs: parse, call one service or selector, serialize."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from accounts.models import ApiKey
from accounts.serializers import (
    ApiKeyCreatedOut,
    ApiKeyIn,
    ApiKeyOut,
    AuditLogOut,
    MembershipOut,
    OrganizationIn,
    OrganizationOut,
    RoleIn,
)
from accounts.tenancy import client_ip, tenant_for
from core.errors import NotFound, PermissionDenied


class ApiKeyListCreateApi(ListAPIView):
    serializer_class = ApiKeyOut

    def get_queryset(self):
        tenant = tenant_for(self.request)
        tenant.require_manager()
        return selectors.api_keys_for(organization=tenant.organization)

    @extend_schema(request=ApiKeyIn, responses={201: ApiKeyCreatedOut})
    def post(self, request: Request) -> Response:
        tenant = tenant_for(request)
        tenant.require_manager()
        data = ApiKeyIn(data=request.data)
        data.is_valid(raise_exception=True)
        scopes = data.validated_data["scopes"]
        if tenant.api_key is not None and not set(scopes) <= set(tenant.api_key.scopes):
            # Least privilege: a key can only mint keys with scopes it has itself.
            raise PermissionDenied("A key cannot create a key with scopes it does not have.")
        api_key, secret = services.api_key_create(
            organization=tenant.organization, created_by=request.user, ip_address=client_ip(request),
            **data.validated_data,
        )
        api_key.secret = secret
        return Response(ApiKeyCreatedOut(api_key).data, status=status.HTTP_201_CREATED)


class ApiKeyDetailApi(APIView):
    @extend_schema(responses={200: ApiKeyOut})
    def get(self, request: Request, key_id: int) -> Response:
        tenant = tenant_for(request)
        tenant.require_manager()
        api_key = selectors.api_keys_for(organization=tenant.organization).filter(pk=key_id).first()
        if api_key is None:
            raise NotFound("No such API key in this organization.")
        return Response(ApiKeyOut(api_key).data)

    @extend_schema(responses={200: ApiKeyOut})
    def delete(self, request: Request, key_id: int) -> Response:
        tenant = tenant_for(request)
        tenant.require_manager()
        api_key = services.api_key_revoke(
            organization=tenant.organization, key_id=key_id, actor=request.user, ip_address=client_ip(request)
        )
        return Response(ApiKeyOut(api_key).data)


class OrganizationListCreateApi(ListAPIView):
    serializer_class = OrganizationOut

    def get_queryset(self):
        if isinstance(self.request.auth, ApiKey):
            return selectors.organizations_for(user=self.request.user).filter(pk=self.request.auth.organization_id)
        return selectors.organizations_for(user=self.request.user)

    @extend_schema(request=OrganizationIn, responses={201: OrganizationOut})
    def post(self, request: Request) -> Response:
        if isinstance(request.auth, ApiKey):
            raise PermissionDenied("Create organizations from a logged-in session, not with an API key.")
        data = OrganizationIn(data=request.data)
        data.is_valid(raise_exception=True)
        organization = services.organization_create(
            owner=request.user, ip_address=client_ip(request), **data.validated_data
        )
        return Response(OrganizationOut(organization).data, status=status.HTTP_201_CREATED)


class MemberListApi(ListAPIView):
    serializer_class = MembershipOut

    def get_queryset(self):
        return selectors.memberships_for(organization=tenant_for(self.request).organization)


class MemberRoleApi(APIView):
    @extend_schema(request=RoleIn, responses={200: MembershipOut})
    def patch(self, request: Request, membership_id: int) -> Response:
        tenant = tenant_for(request)
        if tenant.membership is None:
            raise PermissionDenied("Change roles from a logged-in session, not with an API key.")
        data = RoleIn(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.membership_set_role(
            actor_membership=tenant.membership, membership_id=membership_id,
            role=data.validated_data["role"], ip_address=client_ip(request),
        )
        return Response(MembershipOut(membership).data)


class AuditLogListApi(ListAPIView):
    serializer_class = AuditLogOut

    def get_queryset(self):
        tenant = tenant_for(self.request)
        tenant.require_manager()
        return selectors.audit_log_for(organization=tenant.organization)
