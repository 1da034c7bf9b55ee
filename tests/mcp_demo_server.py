"""A small real MCP server (official SDK, stdio) for the mcp-wrap tests: a tool that succeeds, one that returns
isError, one that raises, one that is slow, one that answers at length."""

import time

from mcp.server.mcpserver import MCPServer
from mcp.types import CallToolResult, TextContent

server = MCPServer("demo-tools", version="1.2.3")


@server.tool()
def add(a: int, b: int) -> str:
    """Add two numbers."""
    return str(a + b)


@server.tool()
def refuse(reason: str) -> CallToolResult:
    """Return a tool error result."""
    return CallToolResult(content=[TextContent(type="text", text=f"refused: {reason}")], is_error=True)


@server.tool()
def explode() -> str:
    """Raise inside the tool."""
    raise RuntimeError("kaboom")


@server.tool()
def slow(ms: int) -> str:
    """Sleep, then answer."""
    time.sleep(ms / 1000)
    return "done"


@server.tool()
def big(kb: int) -> str:
    """A large answer (kb KiB of text)."""
    return "x" * (kb * 1024)


if __name__ == "__main__":
    server.run("stdio")
