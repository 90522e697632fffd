"""Resumable multipart uploads under /api/v1/vendor/ (key scope `vendor:write` or a session).

    POST   /vendor/models/{slug}/uploads                       open, or resume the identical one
    GET    /vendor/uploads/{id}                                which parts are present
    PUT    /vendor/uploads/{id}/files/{index}/parts/{n}        one part, raw bytes + X-Part-SHA256
    POST   /vendor/uploads/{id}/complete                       assemble, verify, start the pipeline
    DELETE /vendor/uploads/{id}                                cancel, parts deleted

Another organization's session is a 404 on every route.
"""

from uuid import UUID

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from marketplace.apis.vendor import _vendor
from marketplace.selectors.listings import vendor_model_get
from marketplace.selectors.uploads import upload_session_get
from marketplace.serializers.uploads import UploadPartOut, UploadSessionIn, UploadSessionOut
from marketplace.serializers.vendor import VersionOut
from marketplace.services.upload_complete import upload_session_complete
from marketplace.services.uploads import (
    upload_part_receive,
    upload_session_cancel,
    upload_session_open,
)

ERROR = OpenApiTypes.OBJECT  # {"error": {"code", "message", "details"}}


def _session(request: Request, session_id: UUID):
    return upload_session_get(organization=_vendor(request).organization, session_id=session_id)


class UploadOpenApi(APIView):
    @extend_schema(
        operation_id="vendor_upload_open", request=UploadSessionIn,
        summary="Open a resumable multipart upload of a version",
        description="Declare every file of the version (path, size, SHA-256). Re-opening with the identical "
                    "file list while the session is open answers 200 with it, so an interrupted client resumes "
                    "without local state.",
        responses={201: UploadSessionOut, 200: UploadSessionOut,
                   409: OpenApiResponse(ERROR, description="`upload_exists` (another file list is open) or "
                                                           "the version exists"),
                   413: OpenApiResponse(ERROR, description="larger than MODELBAY_MAX_UPLOAD_BYTES")},
    )  # fmt: skip
    def post(self, request: Request, slug: str) -> Response:
        tenant = _vendor(request)
        model = vendor_model_get(organization=tenant.organization, slug=slug)
        data = UploadSessionIn(data=request.data)
        data.is_valid(raise_exception=True)
        session, created = upload_session_open(model=model, **data.validated_data)
        return Response(UploadSessionOut(session).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class UploadDetailApi(APIView):
    @extend_schema(operation_id="vendor_upload_get", summary="An upload session and the parts it has",
                   responses={200: UploadSessionOut})  # fmt: skip
    def get(self, request: Request, session_id: UUID) -> Response:
        return Response(UploadSessionOut(_session(request, session_id)).data)

    @extend_schema(operation_id="vendor_upload_cancel", summary="Cancel an upload; its parts are deleted",
                   responses={204: None})  # fmt: skip
    def delete(self, request: Request, session_id: UUID) -> Response:
        upload_session_cancel(session=_session(request, session_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class UploadPartApi(APIView):
    @extend_schema(
        operation_id="vendor_upload_part", summary="Send one part (raw bytes)",
        description="Parts are 0-based; every part is exactly `part_size` bytes except a file's last. The part "
                    "is kept only when its bytes match `X-Part-SHA256`; re-sending a part replaces it.",
        request={"application/octet-stream": OpenApiTypes.BINARY},
        parameters=[OpenApiParameter("X-Part-SHA256", OpenApiTypes.STR, OpenApiParameter.HEADER, required=True,
                                     description="SHA-256 of this part's bytes, 64 hex digits")],
        responses={200: UploadPartOut,
                   400: OpenApiResponse(ERROR, description="`part_hash_mismatch` (nothing kept: re-send it), "
                                        "`part_size_mismatch`, `part_out_of_range`, `file_out_of_range`, "
                                        "`part_hash_missing`"),
                   409: OpenApiResponse(ERROR, description="`upload_closed` or `upload_completing`"),
                   413: OpenApiResponse(ERROR, description="more than MODELBAY_UPLOAD_MAX_PART_BYTES")},
    )  # fmt: skip
    def put(self, request: Request, session_id: UUID, index: int, number: int) -> Response:
        session = _session(request, session_id)
        length = request.META.get("CONTENT_LENGTH") or ""
        part = upload_part_receive(
            session=session, file_index=index, number=number, body=request._request,
            length=int(length) if length.isdigit() else None, sha256=request.headers.get("X-Part-SHA256", ""),
        )  # fmt: skip
        return Response(UploadPartOut(part).data)


class UploadCompleteApi(APIView):
    @extend_schema(
        operation_id="vendor_upload_complete", request=None,
        summary="Assemble the parts, verify them and start the pipeline",
        description="Answers as the one-request version upload does; poll "
                    "`GET /api/v1/vendor/models/{slug}/versions/{version}` for progress.",
        responses={202: VersionOut,
                   409: OpenApiResponse(ERROR, description="`upload_incomplete` with `details.missing` = "
                                        "{path: [part numbers]}, or `upload_closed`, `upload_completing`"),
                   422: OpenApiResponse(ERROR, description="`upload_hash_mismatch` naming the file (the session "
                                        "is closed and nothing kept), or the model format is refused")},
    )  # fmt: skip
    def post(self, request: Request, session_id: UUID) -> Response:
        created = upload_session_complete(session=_session(request, session_id))
        return Response(VersionOut(created).data, status=status.HTTP_202_ACCEPTED)
