import { useEffect } from 'preact/hooks';
import { authState, currentUser } from './api/session';
import { Layout } from './components/Layout';
import { t, type PlainKey } from './i18n';
import { mfaGate } from './live';
import { AccountPage } from './pages/Account';
import { ActivityPage } from './pages/Activity';
import { BackupsPage } from './pages/Backups';
import { DashboardPage } from './pages/Dashboard';
import { EnrolPage } from './pages/Enrol';
import { FilesPage } from './pages/Files';
import { ForgotPage } from './pages/Forgot';
import { InvitePage } from './pages/Invite';
import { Login } from './pages/Login';
import { ResetPage } from './pages/Reset';
import { UserDetailPage } from './pages/UserDetail';
import { UsersPage } from './pages/Users';
import { ADMIN_ROUTES, HOME, isPanelPath, LINK_ROUTES, navigate, path, PUBLIC_ROUTES, userDetailId } from './router';

const TITLES: Record<string, PlainKey> = {
  '/dashboard': 'nav.dashboard',
  '/users': 'nav.users',
  '/files': 'nav.files',
  '/activity': 'nav.activity',
  '/backups': 'nav.backups',
  '/account': 'nav.account',
  '/login': 'login.title',
  '/forgot': 'forgot.title',
  '/reset': 'reset.title',
  '/invite': 'invite.title',
};

export function App() {
  const auth = authState.value;
  const current = path.value;
  const gate = mfaGate.value;
  const role = currentUser.value?.role;

  // Guard: signed out → /login (but for the other signed-out pages); signed in → away from the
  // signed-out pages and unknown paths. Links from e-mails (/reset, /invite) open either way.
  useEffect(() => {
    if (auth === 'out' && !PUBLIC_ROUTES.includes(current)) navigate('/login', { replace: true });
    if (auth === 'in' && gate !== 'enrol' && !isPanelPath(current) && !LINK_ROUTES.includes(current)) {
      navigate(HOME, { replace: true });
    }
    // Admin pages: others go to the landing page (once the role is known).
    if (auth === 'in' && role !== undefined && role !== 'admin' && ADMIN_ROUTES.includes(current)) {
      navigate(HOME, { replace: true });
    }
  }, [auth, current, gate, role]);

  const titleKey = TITLES[current] ?? (userDetailId(current) ? 'title.user' : null);
  const title = titleKey ? t('title.page', { page: t(titleKey) }) : 'Switchboard';
  useEffect(() => {
    document.title = title;
  }, [title]);

  if (auth === 'unknown' || (auth === 'in' && gate === 'unknown' && !LINK_ROUTES.includes(current))) {
    return (
      <div class="splash" aria-busy="true">
        {t('common.loading')}
      </div>
    );
  }
  if (current === '/reset') return <ResetPage />;
  if (current === '/invite') return <InvitePage />;
  if (auth === 'out') return current === '/forgot' ? <ForgotPage /> : <Login />;
  if (gate === 'enrol') return <EnrolPage />;

  let page;
  const detail = userDetailId(current);
  if (detail !== null) page = <UserDetailPage key={detail} id={detail} />;
  else {
    switch (current) {
      case '/users':
        page = <UsersPage />;
        break;
      case '/files':
        page = <FilesPage />;
        break;
      case '/activity':
        page = <ActivityPage />;
        break;
      case '/account':
        page = <AccountPage />;
        break;
      case '/backups':
        page = role === 'admin' ? <BackupsPage /> : <DashboardPage />;
        break;
      default:
        page = <DashboardPage />;
    }
  }
  return <Layout>{page}</Layout>;
}
