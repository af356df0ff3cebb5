// Row selection of a list: a click toggles one row, a shift-click sets every row between it and
// the last row clicked (the anchor) to the clicked row's new state, the header box toggles the
// page. Selections are sets of ids, kept across pages.

/** The selection after a click on row `index` of `ids` (the rows shown, in order). */
export function clickRow(selected: ReadonlySet<string>, ids: readonly string[], index: number, anchor: number | null, shift: boolean): Set<string> {
  const next = new Set(selected);
  const id = ids[index];
  if (id === undefined) return next;
  const on = !selected.has(id);
  const useRange = shift && anchor !== null && anchor >= 0 && anchor < ids.length;
  const from = useRange ? Math.min(anchor, index) : index;
  const to = useRange ? Math.max(anchor, index) : index;
  for (let i = from; i <= to; i++) {
    const row = ids[i]!;
    if (on) next.add(row);
    else next.delete(row);
  }
  return next;
}

/** Whether every row shown is selected (the header box's state). */
export function allSelected(selected: ReadonlySet<string>, ids: readonly string[]): boolean {
  return ids.length > 0 && ids.every((id) => selected.has(id));
}

/** The header box: selects the page, or unselects it when it was all selected. */
export function togglePage(selected: ReadonlySet<string>, ids: readonly string[]): Set<string> {
  const next = new Set(selected);
  const all = allSelected(selected, ids);
  for (const id of ids) {
    if (all) next.delete(id);
    else next.add(id);
  }
  return next;
}
