import { t } from '../i18n';
import { dismiss, toasts } from '../stores/toasts';

export function Toasts() {
  return (
    <div class="toasts">
      {toasts.value.map((toast) => (
        <div key={toast.id} class={`toast toast-${toast.kind}`}>
          <div role={toast.kind === 'error' ? 'alert' : 'status'}>{toast.text}</div>
          <button type="button" class="toast-close" aria-label={t('toast.dismiss')} onClick={() => dismiss(toast.id)}>
            <span aria-hidden="true">×</span>
          </button>
        </div>
      ))}
    </div>
  );
}
