"""A small client for a cohortnet node's local HTTP API (/api/v1).

Used by the notebooks beside it. Python 3 standard library plus pandas
(Debian: python3-pandas); requests is used when installed (python3-requests),
urllib otherwise.

Where the API is: COHORTNET_API (e.g. http://127.0.0.1:8080) and the token in
COHORTNET_TOKEN, or the node's data directory in COHORTNET_DATA (its api.token
and, for the address, its config.yaml's api field). `cohortnet demo --serve`
prints both.
"""

import io
import json
import os
import urllib.error
import urllib.parse
import urllib.request

import pandas as pd

try:  # requests is nicer when present; urllib always works
    import requests
except ImportError:  # pragma: no cover
    requests = None


class APIError(Exception):
    """The API answered with an error status; the message is its error text."""


class Client:
    """A node's API. Every method returns plain data or a pandas DataFrame."""

    def __init__(self, base_url, token, timeout=120):
        self.base = base_url.rstrip("/") + "/api/v1/"
        self.token = token.strip()
        self.timeout = timeout

    @classmethod
    def from_env(cls):
        """The API named by COHORTNET_API and COHORTNET_TOKEN (or COHORTNET_DATA)."""
        url = os.environ.get("COHORTNET_API", "")
        token = os.environ.get("COHORTNET_TOKEN", "")
        data = os.environ.get("COHORTNET_DATA", "")
        if data and not token:
            with open(os.path.join(data, "api.token")) as f:
                token = f.read().strip()
        if data and not url:
            with open(os.path.join(data, "config.yaml")) as f:
                for line in f:
                    if line.startswith("api:"):
                        url = "http://" + line.split(":", 1)[1].strip().strip('"')
        if not url or not token:
            raise RuntimeError(
                "set COHORTNET_API and COHORTNET_TOKEN (printed by `cohortnet demo --serve`), "
                "or COHORTNET_DATA to a node's data directory")
        return cls(url, token)

    # --- transport -------------------------------------------------------

    def _request(self, method, path, params=None, body=None, accept="application/json"):
        url = self.base + path
        if params:
            url += "?" + urllib.parse.urlencode({k: v for k, v in params.items() if v not in (None, "")})
        headers = {"Authorization": "Bearer " + self.token, "Accept": accept}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if requests is not None:
            r = requests.request(method, url, data=data, headers=headers, timeout=self.timeout)
            if r.status_code >= 400:
                raise APIError(_error_text(r.status_code, r.text))
            return r.content
        req = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                return r.read()
        except urllib.error.HTTPError as e:
            raise APIError(_error_text(e.code, e.read().decode(errors="replace"))) from None

    def _json(self, method, path, params=None, body=None):
        return json.loads(self._request(method, path, params, body))

    # --- endpoints -------------------------------------------------------

    def peers(self):
        """The consortium's members as a DataFrame (name, short name, roles, connected)."""
        return pd.DataFrame(self._json("GET", "peers"))

    def cohorts(self, condition=None, drug=None, institution=None, min_persons=None, q=None, all_versions=False):
        """Datasets with their provenance and what this node verified of them."""
        rows = self._json("GET", "cohorts", dict(condition=condition, drug=drug, institution=institution,
                                                 min_persons=min_persons, q=q, all="1" if all_versions else None))
        out = []
        for c in rows:
            st = c.pop("status", {})
            c["signature_ok"] = st.get("signature", False)
            c["in_ledger"] = st.get("anchored", False)
            c["ledger_index"] = st.get("ledger_index", 0)
            c["cosignatures"] = st.get("witnesses", 0)
            c["held"] = st.get("held", False)
            c["retracted"] = st.get("retracted", False)
            out.append(c)
        return pd.DataFrame(out)

    def cohort(self, manifest):
        """One dataset version: listing, status and the manifest itself (DAG-JSON)."""
        return self._json("GET", "cohorts/" + urllib.parse.quote(manifest))

    def query(self, sql, timeout=None):
        """Runs SQL on the node; returns (DataFrame, provenance dict)."""
        r = self._json("POST", "query", body={"sql": sql, **({"timeout": timeout} if timeout else {})})
        cols = [c["name"] for c in r["columns"]]
        df = pd.DataFrame(r["rows"], columns=cols)
        for c in r["columns"]:
            if any(t in c["type"] for t in ("INT", "DOUBLE", "FLOAT", "DECIMAL")):
                df[c["name"]] = pd.to_numeric(df[c["name"]])
        df.attrs["provenance"] = r.get("provenance", {})
        return df, r.get("provenance", {})

    def query_csv(self, sql):
        """Runs SQL and returns the CSV text, as a download would."""
        return self._request("POST", "query", body={"sql": sql}, accept="text/csv").decode()

    def signals(self, source="self-controlled", window=30, min_count=3, drug=None, event=None):
        """Disproportionality statistics per drug–event pair as a DataFrame.

        source is "self-controlled" (each exposed person's risk window against
        their own control windows; right on date-shifted datasets),
        "exposures" (exposed against unexposed persons at sampled index days)
        or "reports" (recorded adverse events)."""
        rows = self._json("GET", "ae/signals", dict(source=source, window=window, min_count=min_count,
                                                     drug=drug, event=event))
        out = []
        for s in rows:
            flags = s.pop("Flags", None) or s.pop("flags", {}) or {}
            row = {k.lower(): v for k, v in s.items()}
            for k, v in flags.items():
                row["flag_" + k] = v
            out.append(row)
        return pd.DataFrame(out)

    def checkpoint(self):
        """The latest cosigned ledger checkpoint this node verified: size, note text,
        and who signed it (the operator first, then the witnesses)."""
        cp = self._json("GET", "ledger/checkpoint")
        note = cp.get("checkpoint", "")
        sigs = note.split("\n\n", 1)[1] if "\n\n" in note else ""
        cp["signers"] = [l[2:].split(" ")[0] for l in sigs.splitlines() if l.startswith("\u2014 ")]
        return cp

    def entries(self, last=None, start=0, limit=1000):
        """Ledger entries in log order as a DataFrame; last=N gives the newest N."""
        if last is not None:
            start = max(0, self.checkpoint().get("size", 0) - last)
            limit = last
        return pd.DataFrame(self._json("GET", "ledger/entries", {"from": start, "limit": limit}))

    def request_access(self, dataset, purpose):
        """Files an access request in the ledger; returns its entry index."""
        return self._json("POST", "access/requests", body={"dataset": dataset, "purpose": purpose})["index"]


def _error_text(status, text):
    try:
        return "%d: %s" % (status, json.loads(text)["error"])
    except (ValueError, KeyError, TypeError):
        return "%d: %s" % (status, text.strip())


def csv_frame(text):
    """A DataFrame from CSV text (query_csv)."""
    return pd.read_csv(io.StringIO(text))
