def test_home_page_shows_widgets_for_hq(app, client_for):
    response = client_for("hq").get("/")
    assert response.status_code == 200
    assert b"data-widget=\"core.franchises\"" in response.data
