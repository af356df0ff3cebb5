// A sortable column header: a button named after the column, `aria-sort` when sorted by it.
interface Props<F extends string> {
  label: string;
  field: F;
  sort: F;
  desc: boolean;
  onSort: (field: F, desc: boolean) => void;
  class?: string;
}

export function SortHeader<F extends string>({ label, field, sort, desc, onSort, class: cls }: Props<F>) {
  const active = sort === field;
  const ariaSort = active ? (desc ? 'descending' : 'ascending') : undefined;
  return (
    <th scope="col" aria-sort={ariaSort} class={cls}>
      <button type="button" class="sort" onClick={() => onSort(field, active ? !desc : false)}>
        {label}
        <span aria-hidden="true" class={active ? 'sort-icon active' : 'sort-icon'}>
          {active ? (desc ? '▼' : '▲') : '↕'}
        </span>
      </button>
    </th>
  );
}
