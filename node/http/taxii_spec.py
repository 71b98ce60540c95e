"""The TAXII 2.1 endpoints (``node.http.taxii``) described for the OpenAPI document and role table.

    >>> ENDPOINTS[("GET", "/taxii2/")].media
    'application/taxii+json;version=2.1'

Every role may call them; what each role *sees* is decided per collection
(``federation.taxii.visible_labels``): a collection the caller may not read answers 404.
Shapes follow TAXII 2.1 §4-5 (discovery, api-root, collections, envelope, manifest, versions).
"""

from __future__ import annotations

from typing import Any

from federation.taxii import MAX_PAGE, TAXII_MEDIA
from node.http.api_spec import ANY_ROLE, INT, STR, Endpoint, Param, Schema, obj

TAG = "TAXII 2.1"
COLLECTION = "/taxii2/api/collections/{id}/"
STRS: Schema = {"type": "array", "items": STR}
STIX_OBJECT: Schema = {"type": "object", "required": ["type", "id", "spec_version"],
                       "properties": {"type": STR, "id": STR, "spec_version": {"const": "2.1"}}}
ENVELOPE = obj(("more",), more={"type": "boolean"}, next=STR,
               objects={"type": "array", "items": dict(STIX_OBJECT)})
MANIFEST = obj(("more",), more={"type": "boolean"}, next=STR, objects={
    "type": "array", "items": obj(("id", "date_added", "version", "media_type"), id=STR,
                                  date_added=STR, version=STR, media_type=STR)})
VERSIONS = obj(("more",), more={"type": "boolean"}, next=STR, versions=STRS)
COLLECTION_RESOURCE = obj(("id", "title", "can_read", "can_write"), id=STR, title=STR,
                          description=STR, can_read={"type": "boolean"},
                          can_write={"type": "boolean"}, media_types=STRS)
ID = Param("id", {"type": "string", "minLength": 1}, "collection id", "path", required=True)
OBJECT_ID = Param("object_id", {"type": "string", "minLength": 1}, "STIX id", "path",
                  required=True)
FILTERS = (Param("added_after", {"type": "string", "format": "date-time"},
                 "only objects added after this time"),
           Param("limit", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
                 f"page size, 1..{MAX_PAGE}"),
           Param("next", STR, "the previous page's next"),
           Param("match[type]", STR, "comma-separated STIX types"),
           Param("match[id]", STR, "comma-separated STIX ids"),
           Param("match[version]", STR, "first, last (default), all or timestamps"),
           Param("match[spec_version]", STR, "comma-separated spec versions"))
PAGED = ("X-TAXII-Date-Added-First and X-TAXII-Date-Added-Last name the first and last "
         "date_added of a non-empty page.")


def _ep(summary: str, answer: dict[str, Any], params: tuple[Param, ...] = (),
        errors: tuple[int, ...] = (406,), description: str = "") -> Endpoint:
    return Endpoint(summary, TAG, ANY_ROLE, answer, params=params, errors=errors,
                    media=TAXII_MEDIA, description=description)


ENDPOINTS: dict[tuple[str, str], Endpoint] = {
    ("GET", "/taxii2/"): _ep("TAXII discovery", obj(
        ("title", "api_roots"), title=STR, description=STR, default=STR, api_roots=STRS)),
    ("GET", "/taxii2/api/"): _ep("The TAXII API root", obj(
        ("title", "versions", "max_content_length"), title=STR, versions=STRS,
        max_content_length=INT)),
    ("GET", "/taxii2/api/collections/"): _ep(
        "Collections the caller may read: one per TLP label (AMBER for operational roles)",
        obj((), collections={"type": "array", "items": COLLECTION_RESOURCE})),
    ("GET", COLLECTION): _ep("One collection", COLLECTION_RESOURCE, (ID,), (404, 406)),
    ("GET", COLLECTION + "objects/"): _ep(
        "STIX objects of a collection", ENVELOPE, (ID, *FILTERS), (400, 404, 406), PAGED),
    ("GET", COLLECTION + "objects/{object_id}/"): _ep(
        "One STIX object (its versions filtered by match[version])", ENVELOPE,
        (ID, OBJECT_ID, *FILTERS), (400, 404, 406), PAGED),
    ("GET", COLLECTION + "manifest/"): _ep(
        "The manifest: id, date added, version and media type of each object", MANIFEST,
        (ID, *FILTERS), (400, 404, 406), PAGED),
    ("GET", COLLECTION + "objects/{object_id}/versions/"): _ep(
        "The versions of one STIX object", VERSIONS, (ID, OBJECT_ID, *FILTERS),
        (400, 404, 406), PAGED),
}
