// The shared document as this page holds it: nodes by id, and the version they are at. It
// applies operations exactly as the server does (README "The shared document").

export class BoardDocument {
  constructor() {
    this.version = 0;
    this.nodes = new Map(); // node_id -> props
  }

  /** Replaces everything with a snapshot `{version, nodes: [{node_id, props}]}`. */
  reset(snapshot) {
    this.version = snapshot.version;
    this.nodes = new Map((snapshot.nodes || []).map((node) => [node.node_id, { ...node.props }]));
  }

  /**
   * Applies `op` as `version`. A null prop removes that key, as the server's merge does; an
   * operation on a node this page does not have changes nothing (the server refused or
   * already reflected it), so the page never throws on what others send.
   */
  apply(version, op) {
    this.version = version;
    if (!op || typeof op !== "object") return;
    const current = this.nodes.get(op.node_id);
    if (op.type === "add_node") {
      this.nodes.set(op.node_id, withoutNulls(op.props || {}));
    } else if (op.type === "update_node" && current) {
      this.nodes.set(op.node_id, withoutNulls({ ...current, ...(op.props || {}) }));
    } else if (op.type === "delete_node") {
      this.nodes.delete(op.node_id);
    }
  }
}

function withoutNulls(props) {
  return Object.fromEntries(Object.entries(props).filter(([, value]) => value !== null));
}
