// Undo, Redo and Add card: the buttons and their shortcuts (Ctrl/Cmd+Z, Shift+Ctrl/Cmd+Z,
// Ctrl+Y). Shortcuts never fire while the person types in a field: there Ctrl+Z is the
// field's own undo. A held key repeats at the keyboard's rate; the page passes `repeat` on so
// that repeats wait for the previous answer rather than flood the server.

export function bindToolbar({ undoButton, redoButton, addButton, onUndo, onRedo, onAdd }) {
  let editable = false;
  undoButton.addEventListener("click", () => onUndo());
  redoButton.addEventListener("click", () => onRedo());
  addButton.addEventListener("click", () => onAdd());
  document.addEventListener("keydown", (event) => {
    if (!editable || isTyping(event.target) || event.altKey) return;
    if (!(event.ctrlKey || event.metaKey)) return;
    const key = event.key.toLowerCase();
    if (key === "z") {
      event.preventDefault();
      if (event.shiftKey) onRedo(event.repeat);
      else onUndo(event.repeat);
    } else if (key === "y" && !event.shiftKey) {
      event.preventDefault();
      onRedo(event.repeat);
    }
  });
  return {
    setEditable(value) {
      editable = value;
      for (const button of [undoButton, redoButton, addButton]) button.disabled = !value;
    },
  };
}

function isTyping(target) {
  if (!(target instanceof Element)) return false;
  const fields = "input, textarea, select, [contenteditable]:not([contenteditable=false])";
  return Boolean(target.closest(fields));
}
