import { useId } from 'preact/hooks';
import { t } from '../i18n';
import { PER_PAGE_CHOICES } from '../lib/prefs';

interface Props {
  page: number;
  pages: number;
  onPage: (page: number) => void;
  /** With both: a choice of rows per page. */
  perPage?: number;
  onPerPage?: (perPage: number) => void;
}

export function Pager({ page, pages, onPage, perPage, onPerPage }: Props) {
  const id = useId();
  return (
    <div class="pager">
      {perPage !== undefined && onPerPage && (
        <span class="per-page">
          <label for={id}>{t('pager.per_page')}</label>
          <select id={id} value={String(perPage)} onChange={(e) => onPerPage(Number(e.currentTarget.value))}>
            {PER_PAGE_CHOICES.map((n) => (
              <option key={n} value={String(n)}>
                {n}
              </option>
            ))}
          </select>
        </span>
      )}
      <button type="button" class="btn" disabled={page <= 1} onClick={() => onPage(page - 1)}>
        {t('pager.previous')}
      </button>
      <span class="pager-text">{t('pager.page', { page, pages })}</span>
      <button type="button" class="btn" disabled={page >= pages} onClick={() => onPage(page + 1)}>
        {t('pager.next')}
      </button>
    </div>
  );
}
