# -*- coding: utf-8 -*-

# Copyright: qbee.unprivileged contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: qbee
short_description: The device fleet from the qbee platform, reachable through qbee's remote-access tunnel
version_added: 1.0.0
author:
  - qbee.unprivileged maintainers (@qbee-unprivileged)
description:
  - Lists the devices of a qbee account through the qbee REST API (C(GET /api/v2/inventory)), every page of it,
    and turns them into an Ansible inventory.
  - Groups hosts by their qbee group path, by tag, by status and by OS flavour, and sets host variables
    prefixed C(qbee_) with what the platform knows of each device.
  - "Groups: C(qbee) holds every device of the source. Below it, one group per level of the qbee group path
    (C(ancestors_titles)), named after the whole path from the root: C(qbee_acme), C(qbee_acme__oslo),
    C(qbee_acme__oslo__sensors). A title is made lower case with runs of other characters turned into C(_); two
    different qbee groups that would get the same name are told apart by a suffix from their node ID. Tags give
    C(tag_<tag>) with C(:) as C(__) and C(-) as C(_) (C(prod:eu-north) is C(tag_prod__eu_north)); the status gives
    C(status_<status>) and the OS flavour C(flavor_<flavor>)."
  - "Host variables: C(qbee_node_id), C(qbee_uuid), C(qbee_title), C(qbee_status), C(qbee_agent_version),
    C(qbee_os), C(qbee_arch) (strings, or null when the API sent nothing or an empty string), C(qbee_tags) and
    C(qbee_groups) (lists of strings; the group path without the device), C(qbee_ipv4) (a mapping of interface
    to address) and C(qbee_last_reported) (Unix seconds as an integer, whether the API sent an integer, a string
    of digits or an ISO 8601 time; null if it sent none)."
  - O(compose), O(groups) and O(keyed_groups) can use these variables and also C(qbee_device), the whole record
    the API returned for the device (for example C(qbee_device.system.release)); C(qbee_device) is not kept as a
    host variable.
  - Sets the connection variables so that SSH reaches a device either through C(qbee-cli connect), qbee's
    remote-access tunnel (default; the device needs no public address), or directly at its reported address.
  - Uses an inventory source whose file name ends in C(.qbee.yml) or C(.qbee.yaml).
extends_documentation_fragment:
  - ansible.builtin.constructed
  - ansible.builtin.inventory_cache
notes:
  - Credentials are used in the order C(qbee-cli) uses them. O(token); else O(email) and O(password), exchanged
    for a token at C(POST /api/v2/login); else the C(token) (and C(base_url)) in O(credentials_file), as written by
    C(qbee-cli login).
  - A login that asks for a second factor cannot be completed here. For fleet automation create a dedicated qbee
    API user without two-factor authentication, with only the permissions the inventory needs, or pass a token
    from C(qbee-cli login --print-token).
  - The token and password are never printed, not in errors either, and are not written to the inventory cache
    (only the device list is).
  - With O(connection=qbee_connect), C(qbee-cli) runs on the controller for every SSH connection, so it must find
    its credentials there (C(QBEE_TOKEN), C(QBEE_EMAIL)/C(QBEE_PASSWORD) or C(~/.qbee/qbee-cli.json)), and the
    device must have remote access enabled.
options:
  plugin:
    description: The name of this plugin. Always V(qbee.unprivileged.qbee).
    type: str
    required: true
    choices: [qbee.unprivileged.qbee]
  base_url:
    description:
      - The qbee platform's URL, without C(/api/v2). A trailing C(/) is ignored.
      - When neither this option nor E(QBEE_BASEURL) is set, the C(base_url) in O(credentials_file) is used,
        and if there is none, V(https://www.app.qbee.io).
    type: str
    env:
      - name: QBEE_BASEURL
  token:
    description:
      - A bearer token for the qbee API, for example from C(qbee-cli login --print-token).
      - Never printed. Prefer the environment variable or a vault over writing it into the inventory source.
    type: str
    env:
      - name: QBEE_TOKEN
  email:
    description: The e-mail address of a qbee user to log in as, when no O(token) is given.
    type: str
    env:
      - name: QBEE_EMAIL
  password:
    description: The password of O(email). Never printed.
    type: str
    env:
      - name: QBEE_PASSWORD
  credentials_file:
    description:
      - The file C(qbee-cli login) writes, read when neither O(token) nor O(email) is given.
    type: path
    default: ~/.qbee/qbee-cli.json
  search:
    description:
      - The API's device filter, as a mapping; sent JSON-encoded as the C(search) query parameter.
      - Keys the API knows include C(tags) (a list; a device must have all of them), C(ancestor_ids) (qbee group
        node IDs), C(title), C(flavor), C(arch) and C(unassigned).
    type: dict
    default: {}
  only_online:
    description:
      - List only devices whose status is C(online); the others cannot be reached through the tunnel.
      - Set to V(false) to see the whole fleet (for example in C(ansible-inventory --graph)); offline devices are
        then in the group C(status_offline) or similar.
    type: bool
    default: true
  connection:
    description:
      - How Ansible reaches a device.
      - V(qbee_connect) sets C(ansible_ssh_common_args) to a C(ProxyCommand) that runs
        C(qbee-cli connect -d <node_id> -t stdio:localhost:<remote_port>), so SSH goes through qbee's remote-access
        tunnel, and C(ansible_host) to the node ID (so C(known_hosts) keys stay right when a title changes).
      - If you set C(ansible_ssh_common_args) yourself (for example in C(host_vars)), keep the C(ProxyCommand) in it.
      - V(direct) sets C(ansible_host) to the device's first IPv4 address as it reported it (C(ipv4_first)), else
        the address the platform saw it connect from (C(remoteaddr)), each only when it is an IP address in full
        form that is not the controller's (no host name, no loopback, unspecified or multicast address).
      - Devices with no such address in V(direct) mode are left out, named in a warning.
    type: str
    choices: [qbee_connect, direct]
    default: qbee_connect
  qbee_cli_path:
    description: The C(qbee-cli) executable used in the C(ProxyCommand), on the controller.
    type: str
    default: qbee-cli
  remote_port:
    description: The port on the device that O(connection=qbee_connect) tunnels to (its SSH server).
    type: int
    default: 22
  hostnames:
    description:
      - What to name each host, tried in order. V(title) is used only when the device's title is a valid host
        name (letters, digits, hyphens and dots).
      - A name is taken only when no other listed device has it as its title, node ID or UUID, when it does not
        name the controller (C(localhost), C(127.0.0.1), C(::1)) and when no inventory source read earlier has a
        host of that name; otherwise the next choice is tried, with a warning. Read a qbee source after any
        static source whose host names a device could take.
    type: list
    elements: str
    choices: [title, node_id, uuid]
    default: [title, node_id]
  page_size:
    description: Devices per API request (the API's maximum is 1000).
    type: int
    default: 1000
  timeout:
    description: Seconds to wait for each API response.
    type: int
    default: 30
  validate_certs:
    description: Verify the API's TLS certificate.
    type: bool
    default: true
"""

EXAMPLES = r"""
# fleet.qbee.yml: every online device, reached through qbee's tunnel; QBEE_TOKEN in the environment.
plugin: qbee.unprivileged.qbee

---
# production.qbee.yml: only devices tagged "prod", grouped also by qbee-agent version, reached on the LAN.
plugin: qbee.unprivileged.qbee
search:
  tags: [prod]
connection: direct
keyed_groups:
  - key: qbee_agent_version
    prefix: agent
compose:
  ansible_user: "'admin'"
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/qbee-inventory
cache_timeout: 600
"""

import ipaddress
import json
import os
import re
import shlex
import socket
import time
from datetime import datetime
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode

from ansible import constants as C
from ansible.errors import AnsibleError
from ansible.module_utils.urls import open_url
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable
from ansible.template import trust_as_template

DEFAULT_BASE_URL = "https://www.app.qbee.io"
ALL_GROUP = "qbee"
MAX_PAGE_SIZE = 1000
RETRY_STATUSES = frozenset((429, 502, 503, 504))
RETRIES = 4

_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
_NOT_NAME = re.compile(r"[^a-z0-9]+")


def group_word(text):
    """One piece of a group name: lower case letters, digits and single underscores."""
    return _NOT_NAME.sub("_", str(text).lower()).strip("_")


def tag_group(tag):
    """tag_<tag>, a colon made '__' and a hyphen '_' (qbee tags are [a-z0-9:-]{3,64})."""
    word = "__".join(_NOT_NAME.sub("_", part.lower()) for part in str(tag).split(":"))
    return "tag_" + word if word.strip("_") else None


def text_or_none(value):
    """Strings as they are; empty strings, null and other types as null."""
    if isinstance(value, str) and value != "":
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


# Host variables that are identifiers and addresses, not text people type:
# exported as plain strings (`ansible-inventory --export`, which AWX imports)
# when they are made of PLAIN's characters alone, in which no template can be
# written (no "{", no "#jinja2:" header, no newline) and which no shell or ssh
# splits (no space, no quote). The tunnel's arguments, which the plugin builds
# from a checked node ID and the operator's qbee_cli_path, may also hold the
# space and quotes of shlex.quote (BUILT). Titles, tags, group titles and the
# API's whole record (qbee_device) stay untrusted ({"__ansible_unsafe": ...}).
PLAIN_VARIABLES = ("qbee_node_id", "qbee_uuid", "qbee_status", "qbee_agent_version", "qbee_os", "qbee_arch",
                   "qbee_ipv4", "ansible_host")
BUILT_VARIABLES = ("ansible_ssh_common_args",)
PLAIN = re.compile(r"[A-Za-z0-9_.:/@+=,-]*")
BUILT = re.compile(r"[A-Za-z0-9_.:/@+=,%' -]*")
# A node ID as qbee makes them (64 hex digits), loosely: it becomes ansible_host
# and an argument of the tunnel's ProxyCommand, so never an option ("-..."),
# quote, space or ssh "%" token.
NODE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


def plain(value, alphabet=PLAIN):
    """value, a string of alphabet's characters alone, marked trusted; any other value (or a dict's) unchanged."""
    if isinstance(value, dict):
        return {key: plain(item, alphabet) for key, item in value.items()}
    if isinstance(value, str) and alphabet.fullmatch(value):
        return trust_as_template(value)
    return value


def is_local_name(value):
    """True for a name that means the controller itself: localhost, 127.0.0.1, ::1 and the like."""
    name = value.lower().rstrip(".")
    return value in C.LOCALHOST or name == "localhost" or name.endswith(".localhost")


def address(value):
    """value when it is an IP address ssh can take that is not the controller's own, else None.

    The device reports its addresses (ipv4_first) and the platform the one it saw (remoteaddr): both are IP
    addresses, so a name is never taken (a name can resolve to anything, the controller included), nor a
    short or numeric form ("127.1", "2130706433") that the resolver would read as one. Nor is an address of
    the controller: loopback, unspecified, multicast, link-local (169.254.169.254 is a cloud's metadata
    service), an IPv4-mapped IPv6 address of those, an IPv6 address with a zone (fe80::1%eth0, which names
    one of the controller's interfaces), or any address of the controller's own (its LAN address, 172.17.0.1
    of a Docker host), as this machine's network namespace sees them.
    """
    if not isinstance(value, str) or not value:
        return None
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        return None
    if getattr(ip, "scope_id", None):
        return None
    mapped = getattr(ip, "ipv4_mapped", None)
    if any(candidate.is_loopback or candidate.is_unspecified or candidate.is_multicast or candidate.is_link_local
           for candidate in (ip, mapped) if candidate is not None):
        return None
    if is_own_address(mapped or ip):
        return None
    return str(ip)


def is_own_address(ip):
    """True when ip is one of this machine's (the controller's) addresses.

    The kernel picks ip itself as the source for a connection to ip only when ip is its own; a UDP connect
    sends nothing. (A bind would do on most machines, but succeeds for every address where non-local binds
    are allowed, as on keepalived and HAProxy hosts.) An address the kernel has no route to is not its own.
    """
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect((str(ip), 9))
            return ipaddress.ip_address(probe.getsockname()[0].split("%")[0]) == ip
    except (OSError, ValueError):
        return False


def epoch_seconds(value):
    """last_reported_time comes as an integer or a string (digits or ISO 8601); always an int, or null."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"-?\d+(\.\d+)?", text):
            return int(float(text))
        try:
            return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())
        except ValueError:
            return None
    return None


class QbeeApiError(AnsibleError):
    pass


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):

    NAME = "qbee.unprivileged.qbee"

    def verify_file(self, path):
        return super().verify_file(path) and path.endswith((".qbee.yml", ".qbee.yaml"))

    # ---- the API ---------------------------------------------------------------------------------

    def _secrets(self):
        return [s for s in (self._token, self.get_option("password")) if s]

    def _mask(self, text):
        for secret in self._secrets():
            text = text.replace(secret, "********")
        return text

    def _fail(self, message):
        raise QbeeApiError(self._mask(message))

    def _request(self, method, path, query=None, body=None, auth=True):
        url = self._base_url + path + ("?" + urlencode(query) if query else "")
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = "application/json"
        if auth:
            headers["Authorization"] = "Bearer " + self._token
        for attempt in range(RETRIES + 1):
            try:
                response = open_url(url, method=method, data=data, headers=headers,
                                    timeout=self.get_option("timeout"),
                                    validate_certs=self.get_option("validate_certs"),
                                    http_agent="qbee.unprivileged inventory", follow_redirects="safe")
                status, raw = response.getcode(), response.read()
            except HTTPError as exc:
                status, raw = exc.code, exc.read() if exc.fp else b""
                retry_after = exc.headers.get("Retry-After") if exc.headers else None
                if status in RETRY_STATUSES and attempt < RETRIES:
                    time.sleep(min(float(retry_after) if (retry_after or "").isdigit() else 2 ** attempt, 30))
                    continue
            except URLError as exc:
                self._fail("cannot reach the qbee API at %s: %s (check base_url / QBEE_BASEURL and the network)"
                           % (self._base_url, getattr(exc, "reason", exc)))
            except (OSError, ValueError) as exc:
                self._fail("cannot reach the qbee API at %s: %s" % (self._base_url, exc))
            break
        return status, raw

    def _json(self, status, raw, what):
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            excerpt = raw[:200].decode("utf-8", "replace").strip() or "an empty body"
            self._fail("the qbee API answered %s with HTTP %s and a body that is not JSON: %r"
                       % (what, status, excerpt))

    def _check(self, status, raw, what):
        if status == 401:
            self._fail("the qbee API refused the credentials (HTTP 401) for %s: the token is wrong or expired, or the "
                       "e-mail/password do not match; set token (QBEE_TOKEN) or email/password "
                       "(QBEE_EMAIL/QBEE_PASSWORD), or run `qbee-cli login` again" % what)
        if status == 403:
            self._fail("the qbee user has no permission for %s (HTTP 403); give it read access to devices "
                       "and their inventory" % what)
        if status >= 400:
            detail = raw[:200].decode("utf-8", "replace").strip() or "an empty body"
            hint = " (an error on qbee's side; try again later)" if status >= 500 else ""
            self._fail("the qbee API answered %s with HTTP %s%s: %s" % (what, status, hint, detail))

    def _login(self):
        email, password = self.get_option("email"), self.get_option("password")
        if not password:
            self._fail("email is set but password is not; set password (QBEE_PASSWORD), or give a token (QBEE_TOKEN)")
        status, raw = self._request("POST", "/api/v2/login", body={"email": email, "password": password}, auth=False)
        reply = self._json(status, raw, "the login") if status < 500 else None
        if isinstance(reply, dict) and isinstance(reply.get("challenge"), str):
            self._fail("the qbee login for %s asks for a second factor (2FA), which an inventory cannot answer; use a "
                       "dedicated API user without 2FA, or a token from `qbee-cli login --print-token` in QBEE_TOKEN"
                       % email)
        self._check(status, raw, "the login of %s" % email)
        token = reply.get("token") if isinstance(reply, dict) else None
        if not isinstance(token, str) or not token:
            self._fail("the qbee login of %s returned no token" % email)
        return token

    def _credentials(self):
        """Sets self._token and self._base_url, in the order qbee-cli uses credentials."""
        self._token = self.get_option("token")
        file_data = {}
        if not self._token and not self.get_option("email"):
            path = os.path.expanduser(self.get_option("credentials_file"))
            try:
                with open(path, "rb") as handle:
                    file_data = json.load(handle)
            except FileNotFoundError:
                raise QbeeApiError("no qbee credentials: set token (QBEE_TOKEN), or email and password "
                                   "(QBEE_EMAIL, QBEE_PASSWORD), or run `qbee-cli login` to write %s" % path)
            except (OSError, ValueError) as exc:
                raise QbeeApiError("cannot read the qbee credentials in %s: %s" % (path, exc))
            if not isinstance(file_data, dict) or not isinstance(file_data.get("token"), str) or not file_data["token"]:
                raise QbeeApiError("%s holds no token; run `qbee-cli login` again" % path)
            self._token = file_data["token"]
        base = self.get_option("base_url") or file_data.get("base_url") or DEFAULT_BASE_URL
        if not isinstance(base, str) or not re.match(r"^https?://", base):
            raise QbeeApiError("base_url must start with http:// or https://, got %r" % (base,))
        self._base_url = base.rstrip("/")
        if not self._token:
            self._token = self._login()

    def _fetch(self):
        page_size = self.get_option("page_size")
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise QbeeApiError("page_size must be between 1 and %d, got %s" % (MAX_PAGE_SIZE, page_size))
        query = {"items_per_page": page_size, "offset": 0, "report_type": "detailed",
                 "sort_field": "title", "sort_direction": "asc"}
        search = self.get_option("search")
        if search:
            query["search"] = json.dumps(search, separators=(",", ":"), sort_keys=True)
        items, total = [], None
        while total is None or len(items) < total:
            query["offset"] = len(items)
            what = "the device list (offset %d)" % query["offset"]
            status, raw = self._request("GET", "/api/v2/inventory", query=query)
            self._check(status, raw, what)
            page = self._json(status, raw, what)
            if not isinstance(page, dict) or not isinstance(page.get("items"), list) \
                    or isinstance(page.get("total"), bool) or not isinstance(page.get("total"), int):
                self._fail("the qbee API answered %s without the expected {\"items\": [...], \"total\": N}" % what)
            if total is not None and page["total"] != total:
                self._fail("the fleet changed while it was being listed (total was %s, is now %s); run again"
                           % (total, page["total"]))
            total = page["total"]
            if not page["items"] and len(items) < total:
                self._fail("the qbee API returned no devices at offset %d although its total is %d"
                           % (len(items), total))
            if len(page["items"]) > page_size or len(items) + len(page["items"]) > total:
                self._fail("the qbee API returned more devices than asked for or than its total (%d) at offset %d"
                           % (total, len(items)))
            items.extend(page["items"])
        return items

    # ---- the inventory ---------------------------------------------------------------------------

    def _add_group(self, name, parent=None):
        self.inventory.add_group(name)
        if parent:
            self.inventory.add_child(parent, name)
        return name

    def _path_groups(self, device, path_names):
        """The device's qbee group path as nested groups, one per level, named by the whole path
        (root first) so that equal titles at different places stay different groups."""
        ids = device.get("ancestors") or []
        titles = device.get("ancestors_titles") or []
        parent, name = ALL_GROUP, ALL_GROUP
        for position, title in enumerate(titles[:-1]):
            node = ids[position] if position < len(ids) else None
            name = name + ("__" if position else "_") + (group_word(title) or "untitled")
            key = (tuple(ids[:position + 1]) if node else None) or name
            owner = path_names.get(name)
            if owner is not None and owner != key:  # two qbee groups whose titles make the same name
                name = "%s_%s" % (name, group_word(node)[:8])
                owner = path_names.get(name)
            if owner is None:
                path_names[name] = key
                self._add_group(name, parent)
            parent = name
        return parent

    def _host_name(self, device, claims, known, taken):
        """The first of hostnames that can name this device, else None.

        A name is taken only when this device alone claims it (claims counts, per name in lower case, the
        devices the API returned whose title, node ID or UUID it is), so that no device can take another's
        name first. A name that means the controller (localhost, 127.0.0.1, ::1) or that already names a host
        (known: the lower-case names of the hosts of an inventory source read earlier, and of the devices
        named so far) is never taken: variables set on it would take over that host's connection.
        Each name passed over for that is added to taken, for one warning.
        """
        for choice in self.get_option("hostnames"):
            value = device.get(choice)
            if not isinstance(value, str) or not value:
                continue
            if not (_HOSTNAME if choice == "title" else NODE_ID).fullmatch(value):
                continue
            # Case does not tell names apart (DNS, people, host_vars/ on a case-insensitive file system).
            if claims.get(value.lower()) != 1 or is_local_name(value) or value.lower() in known:
                taken.append(value)
                continue
            return value
        return None

    def _populate(self, devices):
        only_online = self.get_option("only_online")
        strict = self.get_option("strict")
        tunnel = self.get_option("connection") == "qbee_connect"
        compose, composed_groups = self.get_option("compose"), self.get_option("groups")
        keyed_groups = self.get_option("keyed_groups")
        constructed = bool(compose or composed_groups or keyed_groups)
        add_host, set_variable = self.inventory.add_host, self.inventory.set_variable
        claims = {}
        listed = []
        for device in devices:
            if not isinstance(device, dict) or not isinstance(device.get("node_id"), str) or not device["node_id"]:
                raise QbeeApiError("the qbee API returned a device without a node_id: %s" % json.dumps(device)[:200])
            # Every device the API returned claims its names, listed or not: an offline device's
            # name (and its host_vars) must not go to another device while it is offline.
            for value in set(device.get(key).lower() for key in ("title", "node_id", "uuid")
                             if isinstance(device.get(key), str)):
                claims[value] = claims.get(value, 0) + 1
            if only_online and device.get("status") != "online":
                continue
            listed.append(device)
        path_names, tag_names, unnamed, no_address, bad_ids, taken = {}, {}, [], [], [], []
        known = set(host.lower() for host in self.inventory.hosts)
        # Each tag, status and flavour is made a group name (and the group created) once, not once per host.
        value_groups = {}
        self._add_group(ALL_GROUP)
        proxy = "%s connect -d {node} -t stdio:localhost:%d" % (
            shlex.quote(self.get_option("qbee_cli_path")), self.get_option("remote_port"))
        for device in listed:
            node_id = device["node_id"]
            if not NODE_ID.fullmatch(node_id):
                bad_ids.append(json.dumps(node_id)[:80])
                continue
            name = self._host_name(device, claims, known, taken)
            if name is None:
                unnamed.append(node_id)
                continue
            known.add(name.lower())
            system = device.get("system") if isinstance(device.get("system"), dict) else {}
            tags = [t for t in (device.get("tags") or []) if isinstance(t, str)]
            titles = [t for t in (device.get("ancestors_titles") or []) if isinstance(t, str)]
            host_vars = {
                "qbee_node_id": node_id,
                "qbee_uuid": text_or_none(device.get("uuid")),
                "qbee_title": text_or_none(device.get("title")),
                "qbee_status": text_or_none(device.get("status")),
                "qbee_tags": tags,
                "qbee_groups": titles[:-1],
                "qbee_agent_version": text_or_none(system.get("cf_version")),
                "qbee_os": text_or_none(system.get("os")),
                "qbee_arch": text_or_none(system.get("arch")),
                "qbee_ipv4": system.get("ipv4") if isinstance(system.get("ipv4"), dict) else {},
                "qbee_last_reported": epoch_seconds(device.get("last_reported_time")),
            }
            if tunnel:
                host_vars["ansible_host"] = node_id
                # ssh expands %-tokens in a ProxyCommand: a literal "%" is "%%".
                host_vars["ansible_ssh_common_args"] = "-o " + shlex.quote("ProxyCommand=" + proxy.format(
                    node=shlex.quote(node_id)).replace("%", "%%"))
            else:
                reported = address(system.get("ipv4_first")) or address(system.get("remoteaddr"))
                if not reported:
                    # ssh would connect to the host name, which the device chose.
                    no_address.append(name)
                    continue
                host_vars["ansible_host"] = reported

            add_host(name, self._path_groups(device, path_names))
            for key, value in host_vars.items():
                if key in PLAIN_VARIABLES:
                    value = plain(value)
                elif key in BUILT_VARIABLES:
                    value = plain(value, BUILT)
                set_variable(name, key, value)
            for tag in tags:
                if ("tag", tag) not in value_groups:
                    group = tag_group(tag)
                    if group and tag_names.setdefault(group, tag) != tag:
                        self.display.warning("qbee tags %r and %r both make the group %s" % (tag_names[group], tag, group))
                    value_groups["tag", tag] = group and self._add_group(group)
                if value_groups["tag", tag]:
                    add_host(name, value_groups["tag", tag])
            for prefix, value in (("status", device.get("status")), ("flavor", system.get("flavor"))):
                value = value if isinstance(value, str) else ""
                if (prefix, value) not in value_groups:
                    word = group_word(value)
                    value_groups[prefix, value] = word and self._add_group("%s_%s" % (prefix, word))
                if value_groups[prefix, value]:
                    add_host(name, value_groups[prefix, value])

            if constructed:
                # compose, groups and keyed_groups also see the API's whole record.
                host_vars["qbee_device"] = device
                self._set_composite_vars(compose, host_vars, name, strict=strict)
                self._add_host_to_composed_groups(composed_groups, host_vars, name, strict=strict)
                self._add_host_to_keyed_groups(keyed_groups, host_vars, name, strict=strict)

        if unnamed:
            self.display.warning("%d qbee devices have none of the host names in hostnames (%s) and are left out: %s"
                                 % (len(unnamed), ", ".join(self.get_option("hostnames")), ", ".join(unnamed[:10])))
        if taken:
            taken = list(dict.fromkeys(taken))
            self.display.warning("%d qbee device names were not taken, the next of hostnames was tried: each is "
                                 "claimed by more than one device (names compared without case, offline devices "
                                 "included), names the controller or names a host already in the inventory: %s"
                                 % (len(taken), ", ".join(taken[:10])))
        if no_address:
            self.display.warning("%d qbee devices reported no IP address for connection: direct (or only one of the "
                                 "controller's) and are left out: %s" % (len(no_address), ", ".join(no_address[:10])))
        if bad_ids:
            self.display.warning("%d qbee devices have a node_id that is not one and are left out: %s"
                                 % (len(bad_ids), ", ".join(bad_ids[:10])))

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        self._token = None
        started = time.process_time()
        cache_key = self.get_cache_key(path)
        use_cache = self.get_option("cache")
        devices, source = None, "the inventory cache"
        if use_cache and cache:
            try:
                devices = self._cache[cache_key]
            except KeyError:
                devices = None
        if devices is None:
            self._credentials()
            devices, source = self._fetch(), "the qbee API at %s" % self._base_url
            if use_cache:
                self._cache[cache_key] = devices
        fetched = time.process_time()
        self._populate(devices)
        self.display.vvv("qbee: %d devices from %s in %.2f s CPU, inventory built in %.2f s CPU"
                         % (len(devices), source, fetched - started, time.process_time() - fetched))
