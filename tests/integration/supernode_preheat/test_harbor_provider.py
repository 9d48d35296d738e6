"""The exact calls Harbor's v1 "Dragonfly" preheat provider makes (goharbor/harbor
src/pkg/p2p/preheat/provider/dragonfly.go + client/http_client.go), and how it reads the answers."""

import json

import responses

from supernode.core import manifests as m
from tests.integration.supernode_preheat.test_preheat_api import AMD_MANIFEST, BLOBS, MANIFEST_URL, NAME, World

HARBOR_HEADERS = {
    "Content-Type": "application/json",
    "Accept": "application/json",
    "Authorization": "Bearer harbor-oauth-token",
}  # Harbor's OAuth auth mode


def harbor_post(client, body):
    """client.Post: non-2xx is an error; 208 keeps the body and flags 'already reported'."""
    r = client.post("/preheats", data=json.dumps(body), headers=HARBOR_HEADERS)
    assert r.status_code // 100 == 2, (r.status_code, r.data)
    result = json.loads(r.data)  # dragonflyPreheatCreateResp{ID}
    return r.status_code, result.get("ID", ""), r.data.decode()


def task_id_from_err_msg(msg: str) -> str:
    """getTaskExistedFromErrMsg, verbatim."""
    begin = msg.index("preheat task already exists, id:") + 32
    end = msg.rindex('"}')
    return msg[begin:end]


@responses.activate
def test_harbor_flow(tmp_path):
    w = World(tmp_path, api_token="harbor-oauth-token")
    responses.add(responses.GET, MANIFEST_URL, body=AMD_MANIFEST, content_type=m.DOCKER_MANIFEST)
    # GetHealth: GET <endpoint>/_ping, any 2xx is healthy
    assert w.client.get("/_ping", headers=HARBOR_HEADERS).status_code == 200
    # Preheat: PreheatImage{type,url,headers,image,tag}
    image = {
        "type": "image",
        "url": MANIFEST_URL,
        "headers": {"Authorization": "Bearer registry-robot-token"},
        "image": NAME,
        "tag": "1.0",
    }
    status, task_id, _ = harbor_post(w.client, image)
    assert status == 201 and len(task_id) == 64
    # CheckProgress: GET <endpoint>/preheats/{task_id} -> dragonflyPreheatInfo
    r = w.client.get(f"/preheats/{task_id}", headers=HARBOR_HEADERS)
    assert r.status_code == 200
    info = json.loads(r.data)
    assert info["ID"] == task_id and info["status"] == "SUCCESS"  # WAITING->PENDING, FAILED->FAIL in Harbor
    assert info["startTime"].endswith("Z") and info["finishTime"].endswith("Z") and info["errorMsg"] == ""
    # the layers were fetched with the registry credentials Harbor passed (not the API token)
    assert sorted(j.source.url for j in w.cdn.started) == sorted(
        u for u in BLOBS if u.split("/")[-1] in AMD_MANIFEST.decode()
    )
    assert {j.source.headers["Authorization"] for j in w.cdn.started} == {"Bearer registry-robot-token"}
    # a second preheat of the same image: 208, and both ways of reading the id agree
    status, again_id, raw = harbor_post(w.client, image)
    assert status == 208 and again_id == task_id
    assert task_id_from_err_msg(json.loads(raw)["message"] + '"}') == task_id
    assert task_id_from_err_msg(raw) == task_id


def test_harbor_without_the_token_is_refused(tmp_path):
    w = World(tmp_path, api_token="harbor-oauth-token")
    r = w.client.post(
        "/preheats",
        data=json.dumps({"type": "image", "url": MANIFEST_URL}),
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 401 and set(json.loads(r.data)) == {"code", "message"}
