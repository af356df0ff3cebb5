import { useEffect } from 'preact/hooks';
import { authState } from './api/session';
import { Layout } from './components/Layout';
import { ActivityPage } from './pages/Activity';
import { FilesPage } from './pages/Files';
import { Login } from './pages/Login';
import { UsersPage } from './pages/Users';
import { navigate, path } from './router';

const TITLES: Record<string, string> = {
  '/users': 'Users',
  '/files': 'Files',
  '/activity': 'Activity',
  '/login': 'Sign in',
};

export function App() {
  const auth = authState.value;
  const current = path.value;

  // Guard: signed out → /login; signed in → away from /login and unknown paths.
  useEffect(() => {
    if (auth === 'out' && current !== '/login') navigate('/login', { replace: true });
    if (auth === 'in' && !['/users', '/files', '/activity'].includes(current)) navigate('/users', { replace: true });
  }, [auth, current]);

  useEffect(() => {
    document.title = `${TITLES[current] ?? 'Switchboard'} · Switchboard`;
  }, [current]);

  if (auth === 'unknown') {
    return (
      <div class="splash" aria-busy="true">
        Loading…
      </div>
    );
  }
  if (auth === 'out') return <Login />;

  let page;
  switch (current) {
    case '/files':
      page = <FilesPage />;
      break;
    case '/activity':
      page = <ActivityPage />;
      break;
    default:
      page = <UsersPage />;
  }
  return <Layout>{page}</Layout>;
}
