"""The route table's nodes section (issue 14, Ray backend): list, move, drain."""

from __future__ import annotations

from wamc import validation as V
from wamc.api import node_models as N
from wamc.api.handlers import nodes
from wamc.api.routes.common import C
from wamc.api.spec import CLIENT_ERRORS, CLIENT_PARAM, Param, Route

NODE_PARAM = Param(
    "node",
    "path",
    {"type": "string", "pattern": "^[0-9a-f]{1,128}$"},
    "Ray's node id",
    True,
    "a7035df45225",
)
NODE_ERRORS = ("node_not_found", "not_clustered")

# fmt: off
NODES = [
    Route("GET", "/api/nodes", nodes.list_nodes, "admin", "list_nodes",
          "The nodes clients run on, with slots, clients, memory and CPU", "nodes",
          response=N.NodeList,
          description="With WAMC_BACKEND=ray: every Ray node that offers wamc_slots. With the "
          "local backend the list is empty."),
    Route("POST", C + "/move", nodes.move_client, "admin", "move_client",
          "Move a client to another node (clean stop, then start there)", "nodes", ok=202,
          response=V.ClientStatus, request=N.MoveClient,
          errors=(*CLIENT_ERRORS, *NODE_ERRORS, "invalid_json", "invalid_field",
                  "node_unavailable", "no_capacity"),
          params=(CLIENT_PARAM,)),
    Route("POST", "/api/nodes/{node}/drain", nodes.drain_node, "admin", "drain_node",
          "Drain a node: new clients stay away, its clients are moved off", "nodes", ok=202,
          response=N.NodeInfo, request=N.DrainChange,
          errors=(*NODE_ERRORS, "invalid_json", "invalid_field"), params=(NODE_PARAM,),
          description='Kept across restarts. The body is optional; {"drain": false} undoes it '
          "(the clients moved off stay where they are)."),
    Route("DELETE", "/api/nodes/{node}/drain", nodes.undrain_node, "admin", "undrain_node",
          "Undo a node's drain", "nodes", ok=202, response=N.NodeInfo, errors=NODE_ERRORS,
          params=(NODE_PARAM,)),
]
# fmt: on
