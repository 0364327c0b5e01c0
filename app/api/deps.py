"""Dependencies the route handlers declare."""

from typing import Annotated

from fastapi import Depends, Request

from app.node import Node


def get_node(request: Request) -> Node:
    node: Node = request.app.state.node
    return node


NodeDep = Annotated[Node, Depends(get_node)]
