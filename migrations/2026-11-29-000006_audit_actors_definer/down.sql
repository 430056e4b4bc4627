ALTER FUNCTION audit_actors_add() SECURITY INVOKER RESET search_path;
