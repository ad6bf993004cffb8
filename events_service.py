from musicrec.api.events_app import create_app

app = create_app()
