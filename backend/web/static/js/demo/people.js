// How a member looks: a colour that stays the same for the membership, and initials.

// Dark enough for white initials and labels (WCAG AA at small sizes).
const COLORS = [
  "#c2410c", "#2b8a3e", "#1971c2", "#9c36b5", "#c2255c", "#0b7285", "#a05a00", "#5f3dc4",
];

/** A stable colour for a client id (the same on every page, so a cursor matches its avatar). */
export function colorFor(clientId) {
  let hash = 0;
  for (const char of String(clientId || "")) hash = (hash * 31 + char.codePointAt(0)) >>> 0;
  return COLORS[hash % COLORS.length];
}

/** "Ada Lovelace" -> "AL", "grace" -> "GR", "" -> "?". */
export function initials(name) {
  const words = String(name || "").trim().split(/\s+/).filter(Boolean);
  if (words.length === 0) return "?";
  const first = (word) => Array.from(word)[0];
  const letters =
    words.length === 1 ? Array.from(words[0]).slice(0, 2) : [first(words[0]), first(words.at(-1))];
  return letters.join("").toUpperCase();
}
